"""Greedy CTC decoding."""

import numpy as np
import pytest

from triton_speech.ctc import GreedyCTCDecoder

LABELS = [" ", "a", "b", "c", "'"]
BLANK = len(LABELS)


def logprobs_for(path: list[int], classes: int = len(LABELS) + 1) -> np.ndarray:
    """Log-probs whose per-frame arg-max is ``path``."""
    scores = np.full((len(path), classes), -10.0, dtype=np.float32)
    scores[np.arange(len(path)), path] = -0.01
    return scores


@pytest.mark.parametrize(
    "path, text",
    [
        ([1, 1, 1], "a"),  # repeats collapse
        ([1, BLANK, 1], "aa"),  # a blank separates a real double letter
        ([BLANK, BLANK], ""),  # all blank
        ([2, 2, BLANK, 0, 0, 3, BLANK, BLANK, 4, 3], "b c'c"),
        ([BLANK, 1, 2, BLANK, 2, 1, 1], "abba"),
    ],
)
def test_collapse_and_blank_removal(path, text):
    assert GreedyCTCDecoder(LABELS)(logprobs_for(path)) == text


def test_length_limits_the_frames_decoded():
    scores = logprobs_for([1, 2, 3, 1])
    assert GreedyCTCDecoder(LABELS)(scores, length=2) == "ab"


def test_vocabulary_comes_from_the_caller():
    decoder = GreedyCTCDecoder(["x", "y"])
    assert decoder.num_classes == 3 and decoder.blank_id == 2
    assert decoder(logprobs_for([0, 2, 1, 1], classes=3)) == "xy"


def test_wrong_class_count_is_an_error():
    with pytest.raises(ValueError, match=r"\[T, 6\]"):
        GreedyCTCDecoder(LABELS)(np.zeros((4, 7), dtype=np.float32))
