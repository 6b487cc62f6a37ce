"""The fleet's test repository: asr over the tone model and tts over the tiny Tacotron2 and WaveGlow, both small and
quick to start (two replicas of it run side by side), with the test settings of the tone repository."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fleet_repository(tone_export, tacotron2_export, waveglow_export, decoding_case, tmp_path_factory) -> Path:
    from tests.support.tones import TONE_SETTINGS
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings

    decoder = decoding_case[3]
    repository = tmp_path_factory.mktemp("fleet_repository")
    build(repository, Exports(asr=tone_export, tacotron2=tacotron2_export[0], waveglow=waveglow_export[0]),
          RepositorySettings(**TONE_SETTINGS, gate_threshold=decoder.gate_threshold,
                             max_decoder_steps=decoder.max_decoder_steps))
    return repository
