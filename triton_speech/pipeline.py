"""The ASR pipeline in-process: the same components the served models call, without Triton."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from triton_speech.acoustic import AcousticModel
from triton_speech.ctc import GreedyCTCDecoder
from triton_speech.features import MelFrontend


class ASRPipeline:
    def __init__(self, frontend: MelFrontend, acoustic: AcousticModel, decoder: GreedyCTCDecoder):
        self.frontend = frontend
        self.acoustic = acoustic
        self.decoder = decoder

    @classmethod
    def from_export(cls, export_dir: str | Path, intra_op_threads: int = 0) -> "ASRPipeline":
        export_dir = Path(export_dir)
        vocabulary = json.loads((export_dir / "labels.json").read_text())
        return cls(
            MelFrontend.load(export_dir / "frontend.npz"),
            AcousticModel.load(export_dir / "model.onnx", intra_op_threads),
            GreedyCTCDecoder(vocabulary["labels"], vocabulary["blank_id"]),
        )

    @property
    def sample_rate(self) -> int:
        return self.frontend.config.sample_rate

    def transcribe(self, audio: list[np.ndarray]) -> list[str]:
        """Transcripts of 16 kHz mono float32 utterances, computed as one batch."""
        logprobs = self.acoustic([self.frontend(a) for a in audio])
        return [self.decoder(item) for item in logprobs]
