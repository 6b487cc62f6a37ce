"""The exported QuartzNet (``features, lengths -> log-probs, lengths``) in ONNX Runtime."""

from __future__ import annotations

import json
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


def frame_seconds(export_dir: str | Path) -> float:
    """Seconds per log-prob frame of an export: the front-end's hop times the encoder's subsampling factor
    (QuartzNet: 10 ms x 2), the stride that turns a frame index into a time."""
    from triton_speech.runtime.asr.features import MelFrontend

    export_dir = Path(export_dir)
    info = json.loads((export_dir / "export.json").read_text())
    if "subsampling_factor" not in info:
        raise ValueError(f"{export_dir}/export.json has no subsampling_factor: export the model again "
                         "(python -m export quartznet, or make export)")
    config = MelFrontend.load(export_dir / "frontend.npz").config
    return int(info["subsampling_factor"]) * config.hop_length / config.sample_rate
