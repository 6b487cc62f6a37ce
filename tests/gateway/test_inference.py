"""Word timestamps: taken from the served asr model's outputs when it has them, absent when it has not."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from triton_speech.gateway.inference import Inference, words_of

OUTPUTS = {"TRANSCRIPT": np.array([[b"Hello there."]], dtype=object),
           "WORDS": np.array([[b"hello", b"there"]], dtype=object),
           "WORD_START_S": np.array([[0.12, 0.61]], np.float32), "WORD_END_S": np.array([[0.5, 1.04]], np.float32),
           "WORD_CONFIDENCE": np.array([[0.98, 0.7]], np.float32)}


def test_words_with_times_moved_by_the_trimmed_start():
    assert words_of(OUTPUTS, offset_s=0.25) == [
        {"word": "hello", "start": 0.37, "end": 0.75, "confidence": 0.98},
        {"word": "there", "start": 0.86, "end": 1.29, "confidence": 0.7}]
    without_confidence = {k: v for k, v in OUTPUTS.items() if k != "WORD_CONFIDENCE"}
    assert words_of(without_confidence) == [{"word": "hello", "start": 0.12, "end": 0.5},
                                            {"word": "there", "start": 0.61, "end": 1.04}]
    assert words_of({"TRANSCRIPT": OUTPUTS["TRANSCRIPT"]}) is None


class FakeClient:
    """The one call the output choice makes: the model's metadata, as tritonclient's aio gRPC client gives it."""

    def __init__(self, outputs):
        self.outputs = outputs

    async def get_model_metadata(self, model, as_json=False):
        return {"name": model, "outputs": [{"name": name} for name in self.outputs]}


@pytest.mark.parametrize("served, asked", [
    (["TRANSCRIPT", "RAW_TRANSCRIPT"], ["TRANSCRIPT", "RAW_TRANSCRIPT"]),
    (["TRANSCRIPT"], ["TRANSCRIPT"]),
    (["RAW_TRANSCRIPT", "TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S", "WORD_CONFIDENCE"],
     ["TRANSCRIPT", "RAW_TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S", "WORD_CONFIDENCE"]),
    (["TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S"], ["TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S"]),
    (["TRANSCRIPT", "WORDS", "WORD_START_S"], ["TRANSCRIPT"]),  # no end times: segment-level output only
])
def test_word_outputs_are_asked_for_when_the_model_serves_them(served, asked):
    inference = Inference("127.0.0.1:1", retries=0)
    inference.client = FakeClient(served)
    assert asyncio.run(inference.asr_outputs()) == asked
