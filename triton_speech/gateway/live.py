"""The audio of one live stream (the WebSocket of ``routers/live.py``): PCM frames at the client's rate in, 16 kHz
chunks for ``asr_streaming`` out, and the whole recording kept as it is stored.

The browser sends its capture at the audio device's own rate (usually 48 kHz); the gateway resamples it with soxr
(HQ), the resampler the uploads' decoding uses, so the page needs no resampler of its own. Every sample is
quantized to 16 bits once, here: the chunks sent to Triton, the final transcript and the stored WAV all hold the
same samples, so the stored file uploaded again gives the same transcript.

The limits of a stream: its length (``max_seconds``, the frame that passes it is cut there), a frame's size, and
its pace: the audio may run at most ``ahead_seconds`` ahead of the clock since the stream started, as a microphone
never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from triton_speech import defaults

SAMPLE_RATE = defaults.ASR_SAMPLE_RATE
# Frame encodings: 16-bit integers or 32-bit floats, little-endian, one channel
FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
RATES = (8000, 192000)  # what microphones and sound cards run at


class FrameError(ValueError):
    """A frame the stream cannot take; the message says why, for the client that sent it."""


@dataclass(frozen=True)
class LiveLimits:
    max_seconds: float
    max_frame_seconds: float
    ahead_seconds: float


def quantized(samples: np.ndarray) -> np.ndarray:
    """16-bit samples of float audio, rounded as ``audio.encode`` writes a WAV."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


class LiveAudio:
    """``add(frame)`` for each frame, which answers the 16 kHz chunks (float32, ``chunk_samples`` long) ready for
    the stream; ``finish()`` at the end; then ``recording()``, the whole of it at 16 kHz."""

    def __init__(self, sample_rate: int, encoding: str, limits: LiveLimits,
                 chunk_samples: int = SAMPLE_RATE * defaults.STREAM_CHUNK_MS // 1000,
                 clock: Callable[[], float] = time.monotonic):
        if encoding not in FORMATS:
            raise FrameError(f"format {encoding!r} is not supported: one of {', '.join(FORMATS)}")
        if not RATES[0] <= sample_rate <= RATES[1]:
            raise FrameError(f"sample_rate {sample_rate} Hz is not supported ({RATES[0]}..{RATES[1]} Hz)")
        self.sample_rate, self.dtype, self.limits = sample_rate, FORMATS[encoding], limits
        self.chunk_samples, self.clock, self.started = chunk_samples, clock, clock()
        self.resampler = soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") \
            if sample_rate != SAMPLE_RATE else None
        self.received = 0  # samples at the client's rate
        self.full = False  # the stream reached max_seconds
        self._kept: list[np.ndarray] = []  # 16-bit samples at 16 kHz
        self._pending = np.zeros(0, np.int16)  # not yet in a chunk

    @property
    def seconds(self) -> float:
        """Of audio received."""
        return self.received / self.sample_rate

    def add(self, frame: bytes) -> list[np.ndarray]:
        if self.full:
            return []
        size = self.dtype.itemsize
        if not frame or len(frame) % size:
            raise FrameError(f"a frame holds whole {self.dtype.name} samples ({size} bytes each): got {len(frame)} "
                             "bytes")
        samples = np.frombuffer(frame, self.dtype)
        if samples.shape[0] > self.limits.max_frame_seconds * self.sample_rate:
            raise FrameError(f"a frame holds at most {self.limits.max_frame_seconds:g} s of audio: got "
                             f"{samples.shape[0] / self.sample_rate:.2f} s")
        if self.dtype.kind == "f" and not np.isfinite(samples).all():
            raise FrameError("the frame holds NaN or infinite samples")
        ahead = (self.received + samples.shape[0]) / self.sample_rate - (self.clock() - self.started)
        if ahead > self.limits.ahead_seconds:
            raise FrameError(f"the audio arrives faster than it is spoken ({ahead:.1f} s ahead of the clock, "
                             f"{self.limits.ahead_seconds:g} s allowed): send it as it is captured")
        room = int(self.limits.max_seconds * self.sample_rate) - self.received
        if samples.shape[0] >= room:
            samples, self.full = samples[:room], True
        self.received += samples.shape[0]
        audio = samples.astype(np.float32) / 32768.0 if self.dtype.kind == "i" else samples.astype(np.float32)
        return self._keep(audio, last=False)

    def finish(self) -> None:
        """The resampler's tail joins the recording (no chunk is made of it: the final transcript covers it)."""
        if self.resampler is not None:
            self._keep(np.zeros(0, np.float32), last=True)
            self.resampler = None

    def _keep(self, audio: np.ndarray, last: bool) -> list[np.ndarray]:
        if self.resampler is not None:
            audio = self.resampler.resample_chunk(audio, last=last)
        pcm = quantized(audio)
        self._kept.append(pcm)
        self._pending = np.concatenate([self._pending, pcm])
        ready = self._pending.shape[0] // self.chunk_samples * self.chunk_samples
        chunks = [self._pending[start : start + self.chunk_samples].astype(np.float32) / 32768.0
                  for start in range(0, ready, self.chunk_samples)]
        self._pending = self._pending[ready:]
        return chunks

    def recording(self) -> np.ndarray:
        """The 16-bit samples at 16 kHz received so far."""
        return np.concatenate(self._kept) if self._kept else np.zeros(0, np.int16)
