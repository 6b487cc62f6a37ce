"""Calibration speech: the template sentences of a seed, spoken at the rate asked, the same for the same seed."""

import shutil

import numpy as np
import pytest

from triton_speech.corpus import calibration

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by make setup")


@needs_espeak
def test_spoken_sentences_are_speech_of_each_sentence_and_repeat_by_seed():
    first = calibration.spoken_sentences(2, seed=7, sample_rate=16000)
    again = calibration.spoken_sentences(2, seed=7, sample_rate=16000)
    assert len(first) == 2 and all(audio.dtype == np.float32 for audio in first)
    # a template sentence takes espeak-ng more than a second to say, and it says something
    assert all(len(audio) > 16000 and np.abs(audio).max() > 0.05 for audio in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    slower = calibration.spoken_sentences(1, seed=7, sample_rate=8000)[0]
    assert abs(len(slower) / 8000 - len(first[0]) / 16000) < 0.05  # the same sentence at another rate


def test_without_espeak_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(calibration.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        calibration.spoken_sentences(1, seed=0, sample_rate=16000)
