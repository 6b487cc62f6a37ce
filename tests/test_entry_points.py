"""The commands users type keep working from the checkout: python -m export/client/ensembles/benchmarks (and their
documented sub-modules) and ``from client import ASRClient, TTSClient``, now thin entry points into triton_speech."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPOSITORY_ROOT

COMMANDS = ("export", "export.data", "export.train_asr", "export.train_tts", "export.train_punctuator",
            "export.evaluate_asr", "export.lexicon", "client", "ensembles", "benchmarks", "benchmarks.inputs")


@pytest.mark.parametrize("module", COMMANDS)
def test_documented_commands_run_their_module(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPOSITORY_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_client_import_users_write():
    result = subprocess.run([sys.executable, "-c", "from client import ASRClient, TTSClient, PunctuatorClient; "
                             "import triton_speech.client as c; assert ASRClient is c.ASRClient; print('ok')"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout == "ok\n", result.stderr


def test_only_the_triton_speech_package_is_installed():
    """Nothing named export, client, ensembles or benchmarks is installed into a user's environment."""
    import tomllib

    config = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["triton_speech*"]
