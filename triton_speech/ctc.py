"""Greedy (best-path) CTC decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class GreedyCTCDecoder:
    """Arg-max per frame, collapse repeats, drop blanks, map ids to characters.

    ``labels`` is the checkpoint's vocabulary; the blank is the extra class after it (NeMo's layout:
    ``num_classes = len(labels) + 1`` and ``blank = len(labels)``).
    """

    def __init__(self, labels: Sequence[str], blank_id: int | None = None):
        self.labels = list(labels)
        self.blank_id = len(self.labels) if blank_id is None else blank_id
        self.num_classes = len(self.labels) + 1
        if not 0 <= self.blank_id < self.num_classes:
            raise ValueError(f"blank id {self.blank_id} is outside 0..{self.num_classes - 1}")
        symbols = list(self.labels)
        symbols.insert(self.blank_id, "")
        self._symbols = np.array(symbols, dtype=object)

    def token_ids(self, logprobs: np.ndarray, length: int | None = None) -> np.ndarray:
        """Collapsed non-blank token ids of one utterance; ``logprobs`` is ``[T, num_classes]``."""
        if logprobs.ndim != 2 or logprobs.shape[1] != self.num_classes:
            raise ValueError(f"expected log-probs [T, {self.num_classes}], got {list(logprobs.shape)}")
        best = logprobs[: logprobs.shape[0] if length is None else int(length)].argmax(axis=1)
        if best.size == 0:
            return best
        keep = np.ones(best.shape, dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        best = best[keep]
        return best[best != self.blank_id]

    def __call__(self, logprobs: np.ndarray, length: int | None = None) -> str:
        return "".join(self._symbols[self.token_ids(logprobs, length)])
