"""The ASR pipeline in-process: the same components the served models call, without Triton."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import CTC_BEAM_SIZE
from triton_speech.runtime.asr.acoustic import AcousticModel
from triton_speech.runtime.asr.ctc import GreedyCTCDecoder, load_decoder
from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.inputs import checked_row
from triton_speech.runtime.punctuation import Punctuator


@dataclass
class Transcript:
    text: str  # punctuated and capitalized when a punctuator is in the pipeline
    raw: str  # the CTC decoder's text


class ASRPipeline:
    def __init__(self, frontend: OnnxMelFrontend, acoustic: AcousticModel, decoder: GreedyCTCDecoder,
                 punctuator: Punctuator | None = None):
        self.frontend = frontend
        self.acoustic = acoustic
        self.decoder = decoder
        self.punctuator = punctuator

    @classmethod
    def from_export(cls, export_dir: str | Path, punctuator_dir: str | Path | None = None,
                    intra_op_threads: int = 0, lexicon: str | Path | None = None,
                    beam_size: int = CTC_BEAM_SIZE, lm: str | Path | None = None) -> "ASRPipeline":
        """The pipeline of an export; with ``lexicon`` (a word list), CTC beam search over its words; with ``lm``
        (an n-gram LM), beam search scored by it."""
        export_dir = Path(export_dir)
        return cls(
            OnnxMelFrontend.load(export_dir, intra_op_threads),
            AcousticModel.load(export_dir / "model.onnx", intra_op_threads),
            load_decoder(export_dir / "labels.json", lexicon, beam_size, lm),
            None if punctuator_dir is None else Punctuator.load(punctuator_dir, intra_op_threads),
        )

    @property
    def sample_rate(self) -> int:
        return self.frontend.config.sample_rate

    def recognize(self, audio: list[np.ndarray]) -> list[Transcript]:
        """Transcripts of 16 kHz mono float32 utterances, computed as one batch; audio the served
        feature_extractor refuses (shorter than one frame, NaN/Inf) raises the same InputError here."""
        config = self.frontend.config
        audio = [checked_row(np.asarray(a, dtype=np.float32), row, config.hop_length, None, config.sample_rate)
                 for row, a in enumerate(audio)]
        logprobs = self.acoustic(self.frontend(audio))
        raw = [self.decoder(item) for item in logprobs]
        text = raw if self.punctuator is None else self.punctuator(raw)
        return [Transcript(t, r) for t, r in zip(text, raw)]

    def transcribe(self, audio: list[np.ndarray]) -> list[str]:
        return [transcript.text for transcript in self.recognize(audio)]
