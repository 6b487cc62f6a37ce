"""The generated config.pbtxt of every model and ensemble of the default build (what `make repository` writes from
the shipped defaults) equals the committed copy in tests/data/golden_configs/: a config change shows in a diff.

After an intended change: UPDATE_GOLDEN_CONFIGS=1 python -m pytest tests/ensembles/test_golden_configs.py
"""

from __future__ import annotations

import os

import pytest

from tests.support.paths import DATA, DEFAULTS

GOLDEN = DATA / "golden_configs"


@pytest.fixture(scope="module")
def default_configs(default_quartznet_export, default_punctuator_export, default_tacotron2_export) -> dict[str, str]:
    from triton_speech.ensembles.builder import Exports, describe
    from triton_speech.ensembles.settings import RepositorySettings, default_precision
    from triton_speech.ensembles.spec import to_text, validate_repository

    # The Makefile's default build: the default QuartzNet over its lexicon, Griffin-Lim (no WaveGlow ships), the
    # builder's precision for the pip target on the CPU (INT8 QuartzNet)
    settings = RepositorySettings(lexicon=str(DEFAULTS / "quartznet_small.lexicon.txt"), vocoder="griffin_lim",
                                  precision=default_precision("pip", "cpu"))
    described = describe(Exports(asr=default_quartznet_export, punctuator=default_punctuator_export,
                                 tacotron2=default_tacotron2_export), settings)
    configs = [entry.config() for entry in described]
    validate_repository(configs)
    return {config.name: to_text(config) for config in configs}


def test_default_build_configs_equal_the_committed_ones(default_configs):
    if os.environ.get("UPDATE_GOLDEN_CONFIGS"):
        GOLDEN.mkdir(exist_ok=True)
        for stale in GOLDEN.glob("*.pbtxt"):
            stale.unlink()
        for name, text in default_configs.items():
            (GOLDEN / f"{name}.pbtxt").write_text(text)
    committed = {path.stem: path.read_text() for path in GOLDEN.glob("*.pbtxt")}
    assert sorted(committed) == sorted(default_configs)
    for name, text in default_configs.items():
        assert text == committed[name], f"{name}: config changed; see the module docstring to update the copy"
