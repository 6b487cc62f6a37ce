"""Template sentences of a seed spoken by espeak-ng: speech to calibrate and check a model on without touching a test
set (the seeds a caller picks are checked against the test sets by its tests)."""

from __future__ import annotations

import shutil

import numpy as np

from triton_speech.corpus.templates import sentences
from triton_speech.corpus.voices import Voice, speak


def spoken_sentences(count: int, seed: int, sample_rate: int) -> list[np.ndarray]:
    """``count`` template sentences of ``seed``, spoken by espeak-ng's default voice at ``sample_rate`` (float32)."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("calibration speech is spoken by espeak-ng: apt-get install espeak-ng (make setup does)")
    return [speak(text, Voice.espeak(), sample_rate) for text in sentences(count, seed=seed)]
