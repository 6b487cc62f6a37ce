"""The ASR pipeline in-process: the same components the served models call, without Triton."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA
from triton_speech.runtime.asr.acoustic import AcousticModel, frame_seconds
from triton_speech.runtime.asr.ctc import GreedyCTCDecoder, load_decoder
from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.asr.longform import merge_windows, plan_windows
from triton_speech.runtime.asr.words import Transcript
from triton_speech.runtime.inputs import checked_row
from triton_speech.runtime.punctuation import Punctuator


class ASRPipeline:
    def __init__(self, frontend: OnnxMelFrontend, acoustic: AcousticModel, decoder: GreedyCTCDecoder,
                 punctuator: Punctuator | None = None, frame_seconds: float = 0.02):
        self.frontend = frontend
        self.acoustic = acoustic
        self.decoder = decoder
        self.punctuator = punctuator
        self.frame_seconds = frame_seconds  # the model's output stride

    @classmethod
    def from_export(cls, export_dir: str | Path, punctuator_dir: str | Path | None = None,
                    intra_op_threads: int = 0, lexicon: str | Path | None = None,
                    beam_size: int = CTC_BEAM_SIZE, lm: str | Path | None = None, lm_alpha: float = LM_ALPHA,
                    lm_beta: float = LM_BETA, device: str = "cpu") -> "ASRPipeline":
        """The pipeline of an export; with ``lexicon`` (a word list), CTC beam search over its words; with ``lm``
        (an n-gram LM), beam search scored by it."""
        export_dir = Path(export_dir)
        return cls(
            OnnxMelFrontend.load(export_dir, intra_op_threads, device),
            AcousticModel.load(export_dir / "model.onnx", intra_op_threads, device),
            load_decoder(export_dir / "labels.json", lexicon, beam_size, lm, lm_alpha, lm_beta),
            None if punctuator_dir is None else Punctuator.load(punctuator_dir, intra_op_threads),
            frame_seconds(export_dir),
        )

    @property
    def sample_rate(self) -> int:
        return self.frontend.config.sample_rate

    def recognize(self, audio: list[np.ndarray], words: bool = False) -> list[Transcript]:
        """Transcripts of 16 kHz mono float32 utterances, computed as one batch; audio the served
        feature_extractor refuses (shorter than one frame, NaN/Inf) raises the same InputError here.
        ``words``: also each word's times and confidence."""
        config = self.frontend.config
        audio = [checked_row(np.asarray(a, dtype=np.float32), row, config.hop_length, None, config.sample_rate)
                 for row, a in enumerate(audio)]
        logprobs = self.acoustic(self.frontend(audio))
        if words:
            found = [self.decoder.words(item, self.frame_seconds) for item in logprobs]
            raw = [" ".join(word.text for word in item) for item in found]
        else:
            found, raw = [None] * len(logprobs), [self.decoder(item) for item in logprobs]
        text = raw if self.punctuator is None else self.punctuator(raw)
        return [Transcript(t, r, w) for t, r, w in zip(text, raw, found)]

    def recognize_long(self, audio: np.ndarray, window_seconds: float, overlap_seconds: float,
                       batch: int = 8) -> Transcript:
        """One recording of any length in overlapping windows, ``batch`` at a time, merged by word time."""
        rate = self.sample_rate
        spans = plan_windows(len(audio), int(window_seconds * rate), int(overlap_seconds * rate))
        results = [result for first in range(0, len(spans), batch)
                   for result in self.recognize([audio[s:e] for s, e in spans[first : first + batch]], words=True)]
        return merge_windows(results, spans, rate)

    def warm_up(self, seconds: float = 1.0) -> None:
        """One recognition with word times on a voiced tone: the sessions' first runs and the decoder's first search
        happen here, for a model that cannot take Triton's model_warmup (a sequence model)."""
        t = np.arange(int(seconds * self.sample_rate)) / self.sample_rate
        self.recognize([(0.2 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)], words=True)

    def transcribe(self, audio: list[np.ndarray]) -> list[str]:
        return [transcript.text for transcript in self.recognize(audio)]
