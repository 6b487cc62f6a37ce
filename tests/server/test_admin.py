"""The admin key: from TRITON_ADMIN_KEY when set, a new random one when unset or set but empty (an empty key would
let an empty header through), written to a file only its owner can read."""

from __future__ import annotations

import pytest

from triton_speech.server import TritonServer, admin_key_from_env, write_private
from triton_speech.server.__main__ import main


def test_the_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRITON_ADMIN_KEY", "a key of my own")
    assert admin_key_from_env() == "a key of my own"


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_means_a_new_random_key(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("TRITON_ADMIN_KEY", raising=False)
    else:
        monkeypatch.setenv("TRITON_ADMIN_KEY", value)
    keys = {admin_key_from_env() for _ in range(3)}
    assert len(keys) == 3 and all(len(key) >= 40 for key in keys)
    assert len(TritonServer("model_repository").admin_key) >= 40


def test_an_empty_key_is_not_announced_as_the_environments(monkeypatch, tmp_path, capsys):
    """`python -m triton_speech.server` with TRITON_ADMIN_KEY="" writes the generated key to its file."""
    monkeypatch.setenv("TRITON_ADMIN_KEY", "")
    key_file = tmp_path / "admin-key"
    assert main(["--model-repository", str(tmp_path / "nowhere"), "--admin-key-file", str(key_file)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert len(key_file.read_text().strip()) >= 40


def test_the_key_file_is_private(tmp_path):
    path = tmp_path / "keys" / "admin-key"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "secret\n")
    assert path.read_text() == "secret\n" and path.stat().st_mode & 0o777 == 0o600
