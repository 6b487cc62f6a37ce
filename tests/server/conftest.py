"""Fixtures of the launcher's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TONE_SETTINGS


@pytest.fixture(scope="session")
def tone_repository(tone_export, tmp_path_factory) -> Path:
    """A small repository (asr, asr_long, asr_streaming over the tone model): quick to start, for the tests that
    start and kill launchers of their own."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings

    repository = tmp_path_factory.mktemp("tone_launcher_repository")
    build(repository, Exports(asr=tone_export), RepositorySettings(**TONE_SETTINGS))
    return repository
