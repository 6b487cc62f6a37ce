"""Words with times and confidences as the tensors the served models exchange: ``WORDS`` BYTES ``[B, W]``,
``WORD_START_S``, ``WORD_END_S`` and ``WORD_CONFIDENCE`` FP32 ``[B, W]``. A request of several rows pads the
shorter rows with empty words (time and confidence 0): a recognized word is never empty."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from triton_speech.runtime.asr.ctc import Word

WORDS, WORD_START_S, WORD_END_S, WORD_CONFIDENCE = "WORDS", "WORD_START_S", "WORD_END_S", "WORD_CONFIDENCE"
WORD_OUTPUTS = (WORDS, WORD_START_S, WORD_END_S, WORD_CONFIDENCE)


@dataclass
class Transcript:
    text: str  # punctuated and capitalized when a punctuator is in the pipeline
    raw: str  # the CTC decoder's text
    # The raw transcript's words with their times and confidences, when asked for
    words: list[Word] | None = field(default=None, compare=False)


def pack_words(rows: Sequence[Sequence[Word]]) -> dict[str, np.ndarray]:
    """One ``[B, W]`` array per word output, W the most words of a row."""
    width = max((len(words) for words in rows), default=0)
    texts = np.full((len(rows), width), b"", dtype=np.object_)
    numbers = {name: np.zeros((len(rows), width), dtype=np.float32) for name in WORD_OUTPUTS[1:]}
    for row, words in enumerate(rows):
        for column, word in enumerate(words):
            texts[row, column] = word.text.encode("utf-8")
            numbers[WORD_START_S][row, column] = word.start_s
            numbers[WORD_END_S][row, column] = word.end_s
            numbers[WORD_CONFIDENCE][row, column] = word.confidence
    return {WORDS: texts, **numbers}


def unpack_words(outputs: Mapping[str, np.ndarray]) -> list[list[Word]]:
    """The words of each row of ``pack_words``'s arrays (padding dropped)."""
    texts = np.asarray(outputs[WORDS], dtype=np.object_)
    texts = texts.reshape(texts.shape[0] if texts.ndim > 1 else 1, -1)
    columns = [np.asarray(outputs[name], dtype=np.float32).reshape(texts.shape) for name in WORD_OUTPUTS[1:]]
    rows = []
    for row in range(texts.shape[0]):
        rows.append([Word(text.decode("utf-8"), float(start), float(end), float(confidence))
                     for text, start, end, confidence in zip(texts[row], *(c[row] for c in columns)) if text])
    return rows


def transcript_from(outputs: Mapping[str, np.ndarray]) -> Transcript:
    """The first row of an ``asr`` answer: TRANSCRIPT, RAW_TRANSCRIPT when punctuated, the words when present."""
    text = outputs["TRANSCRIPT"].reshape(-1)[0].decode("utf-8")
    raw = outputs["RAW_TRANSCRIPT"].reshape(-1)[0].decode("utf-8") if "RAW_TRANSCRIPT" in outputs else text
    return Transcript(text, raw, unpack_words(outputs)[0] if WORDS in outputs else None)


def requested_words(request) -> bool:
    """Whether a Triton request asks for any word output (inside an ensemble a step is asked for all)."""
    return bool(set(WORD_OUTPUTS) & set(request.requested_output_names()))
