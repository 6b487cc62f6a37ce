"""Punctuation and capitalization through the ``punctuator`` model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triton_speech.client.connection import TritonConnection


class PunctuatorClient:
    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "punctuator"):
        self.connection = TritonConnection(url, protocol)
        self.model = model

    def punctuate(self, texts: Sequence[str | bytes]) -> list[str]:
        """All texts in one request (a batch of rows)."""
        rows = [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]
        outputs = self.connection.infer(self.model, {"TEXT": np.array(rows, dtype=np.object_).reshape(-1, 1)},
                                        ["PUNCTUATED_TEXT"])
        return [raw.decode("utf-8") for raw in outputs["PUNCTUATED_TEXT"].reshape(-1)]
