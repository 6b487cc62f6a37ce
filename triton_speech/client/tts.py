"""Text to speech through the ``tts`` ensemble."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from triton_speech.client.connection import TritonConnection
from triton_speech.defaults import TTS_SAMPLE_RATE

SAMPLE_RATE = TTS_SAMPLE_RATE
OUTPUTS = ["AUDIO", "AUDIO_LENGTH", "STEP_LIMIT_REACHED"]
STREAM_OUTPUTS = ["AUDIO", "AUDIO_OFFSET", "FINAL", "STEP_LIMIT_REACHED"]


@dataclass
class Synthesis:
    audio: np.ndarray  # float32 mono at sample_rate
    sample_rate: int
    step_limit_reached: bool  # Tacotron2 never decided to stop: the speech was cut at max_decoder_steps


@dataclass
class SpeechChunk:
    audio: np.ndarray  # float32 mono at sample_rate: the next samples of the speech
    sample_rate: int
    offset: int  # samples of the speech before this chunk
    final: bool  # the last chunk
    step_limit_reached: bool  # (last chunk) Tacotron2 never decided to stop: the speech was cut


class TTSClient:
    """``TTSClient().synthesize("Hello world.")``, or ``for chunk in TTSClient().stream("Hello world.")`` to get the
    audio in chunks as it is made; ``seed`` fixes the noise: same seed, same audio."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "tts",
                 streaming_model: str = "tts_streaming"):
        self.connection = TritonConnection(url, protocol)
        self.model = model
        self.streaming_model = streaming_model

    def synthesize(self, text: str | bytes, seed: int | None = None, sigma: float | None = None,
                   denoiser_strength: float | None = None) -> Synthesis:
        outputs = self.connection.infer(self.model, self.tensors(text, seed, sigma, denoiser_strength), OUTPUTS)
        return self.synthesis(outputs)

    @staticmethod
    def tensors(text: str | bytes, seed: int | None = None, sigma: float | None = None,
                denoiser_strength: float | None = None) -> dict[str, np.ndarray]:
        """The request of one text; options left None take the server's defaults."""
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        tensors = {"TEXT": np.array([[raw]], dtype=np.object_)}
        for name, value, dtype in (("SEED", seed, np.int64), ("SIGMA", sigma, np.float32),
                                   ("DENOISER_STRENGTH", denoiser_strength, np.float32)):
            if value is not None:
                tensors[name] = np.array([[value]], dtype=dtype)
        return tensors

    @staticmethod
    def synthesis(outputs: dict[str, np.ndarray]) -> Synthesis:
        """The ``Synthesis`` of one answer: the audio cut to its length."""
        length = int(outputs["AUDIO_LENGTH"].reshape(-1)[0])
        return Synthesis(outputs["AUDIO"][0, :length], SAMPLE_RATE, bool(outputs["STEP_LIMIT_REACHED"].reshape(-1)[0]))

    def stream(self, text: str | bytes, seed: int | None = None, sigma: float | None = None,
               denoiser_strength: float | None = None) -> Iterator[SpeechChunk]:
        """The speech of ``text`` in chunks, in order, as the server makes them (``tts_streaming``): the first
        comes after the first words are synthesized; joined, they are what ``synthesize`` returns
        (docs/streaming.md)."""
        tensors = self.tensors(text, seed, sigma, denoiser_strength)
        for outputs in self.connection.stream(self.streaming_model, tensors, STREAM_OUTPUTS):
            yield SpeechChunk(np.asarray(outputs["AUDIO"], dtype=np.float32).reshape(-1), SAMPLE_RATE,
                              int(outputs["AUDIO_OFFSET"].reshape(-1)[0]), bool(outputs["FINAL"].reshape(-1)[0]),
                              bool(outputs["STEP_LIMIT_REACHED"].reshape(-1)[0]))
