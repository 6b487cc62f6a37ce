"""The exported QuartzNet (``features, lengths -> log-probs, lengths``) in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triton_speech.runtime.batching import pad_batch
from triton_speech.runtime.onnx import onnx_session


class AcousticModel:
    """Runs a ragged list of feature matrices as one padded batch; returns each item's valid log-probs."""

    def __init__(self, session):
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    @classmethod
    def load(cls, path: str | Path, intra_op_threads: int = 0, device: str = "cpu") -> "AcousticModel":
        return cls(onnx_session(path, intra_op_threads, device))

    def __call__(self, features: list[np.ndarray]) -> list[np.ndarray]:
        batch, lengths = pad_batch(features, axis=-1)
        logprobs, out_lengths = self.session.run(
            self.output_names, {self.input_names[0]: batch, self.input_names[1]: lengths}
        )
        return [logprobs[row, : int(n)] for row, n in enumerate(out_lengths)]
