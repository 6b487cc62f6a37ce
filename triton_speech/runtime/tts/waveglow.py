"""WaveGlow in-process: the exported ``waveglow`` graph in ONNX Runtime, and DLE's denoiser.

Each item's noise ``z`` comes from its own seeded generator, so an item gets the audio it gets alone (up to
float rounding) whatever it is batched with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from triton_speech.defaults import DENOISER_STRENGTH, SIGMA
from triton_speech.runtime.batching import pad_batch, per_item_seeds
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.onnx import ONNX_SPINNING, onnx_session, static_dim
from triton_speech.runtime.tts.stft import STFT_SIZE, istft, stft

# Tensor names of the exported graph (triton_speech.export.waveglow writes them, the engine reads them).
WAVEGLOW_INPUTS = ("mel", "z", "sigma", "mel_length")
WAVEGLOW_OUTPUTS = ("audio",)
# DLE's denoiser: the all-zero mel whose audio is WaveGlow's bias.
DENOISER_BIAS_FRAMES = 88


class WaveGlowEngine:
    """Mel spectrograms -> 22050 Hz audio with the exported ``waveglow`` graph.

    ``sigma`` scales the Gaussian noise (DLE's default 0.666). ``denoiser_strength`` > 0 applies DLE's
    denoiser: the magnitude spectrum of WaveGlow's output for an all-zero mel (sigma 0), times the strength,
    is subtracted from each item's spectrum (typical strengths 0.01 to 0.1).
    """

    def __init__(self, session, sigma: float = SIGMA, denoiser_strength: float = DENOISER_STRENGTH):
        if sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {sigma}")
        if denoiser_strength < 0:
            raise ValueError(f"denoiser_strength must be non-negative, got {denoiser_strength}")
        self.session = session
        self.sigma = sigma
        self.denoiser_strength = denoiser_strength
        self.n_mel_channels = static_dim(session, "mel", 1)
        self.n_group = static_dim(session, "z", 1)
        self.hop = int(session.get_modelmeta().custom_metadata_map["hop_length"])
        self._bias_spectrum: np.ndarray | None = None

    @classmethod
    def load(cls, path: str | Path, sigma: float = SIGMA, denoiser_strength: float = DENOISER_STRENGTH,
             intra_op_threads: int = 0, device: str = "cpu", spinning: bool = ONNX_SPINNING) -> "WaveGlowEngine":
        """``path``: ``waveglow.onnx`` or the export directory holding it."""
        path = Path(path)
        if path.is_dir():
            path = path / "waveglow.onnx"
        return cls(onnx_session(path, intra_op_threads, device, spinning), sigma, denoiser_strength)

    @property
    def context_frames(self) -> int:
        """Mel frames on either side that an audio frame depends on (the graph's reach recorded by the export, and
        the denoiser's STFT window): a window of frames vocoded with this much context gives the whole mel's audio."""
        recorded = self.session.get_modelmeta().custom_metadata_map.get("context_samples")
        if recorded is None:
            raise ValueError("waveglow.onnx does not record its context_samples: export WaveGlow again (make export)")
        return -(-int(recorded) // self.hop) + STFT_SIZE // self.hop

    def draw_noise(self, generator: np.random.Generator, frames: int) -> np.ndarray:
        """Standard normal ``z`` [n_group, frames * hop / n_group] for the next ``frames`` frames (float32), drawn
        group after group in time: the noise of a frame does not depend on how many frames follow it."""
        return generator.standard_normal((frames * self.hop // self.n_group, self.n_group), dtype=np.float32).T

    def noise(self, frames: int, seed: int) -> np.ndarray:
        """Standard normal ``z`` [n_group, frames * hop / n_group] of one item (float32)."""
        return self.draw_noise(np.random.default_rng(seed), frames)

    def __call__(self, mels: Sequence[np.ndarray], seeds: int | Sequence[int] | None = None,
                 noise: Sequence[np.ndarray] | None = None, sigma: float | None = None,
                 denoiser_strength: float | None = None) -> list[np.ndarray]:
        """Audio (float32, ``frames * hop`` samples) of each mel [n_mel, frames]; noise from ``noise`` or ``seeds``;
        ``sigma`` and ``denoiser_strength`` override the engine's for this call."""
        sigma = self.sigma if sigma is None else sigma
        strength = self.denoiser_strength if denoiser_strength is None else denoiser_strength
        if sigma < 0:
            raise InputError(f"SIGMA must be non-negative, got {sigma}")
        if not mels:
            return []
        mels = [self._checked_mel(mel, index) for index, mel in enumerate(mels)]
        if noise is None:
            noise = [self.noise(mel.shape[1], seed) for mel, seed in zip(mels, per_item_seeds(seeds, len(mels)))]
        elif len(noise) != len(mels):
            raise InputError(f"{len(noise)} noise arrays for {len(mels)} mels")
        audio = self._vocode(mels, [np.asarray(z, dtype=np.float32) for z in noise], sigma)
        if strength > 0:
            audio = [self.denoise(item, strength) for item in audio]
        return audio

    def _checked_mel(self, mel: np.ndarray, index: int) -> np.ndarray:
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.n_mel_channels or mel.shape[1] == 0:
            raise InputError(f"mel {index} must be [{self.n_mel_channels}, frames>0], got {list(mel.shape)}")
        if not np.isfinite(mel).all():
            raise InputError(f"mel {index} contains NaN or Inf")
        return mel

    def _vocode(self, mels: list[np.ndarray], noise: list[np.ndarray], sigma: float) -> list[np.ndarray]:
        for index, (mel, z) in enumerate(zip(mels, noise)):
            expected = (self.n_group, mel.shape[1] * self.hop // self.n_group)
            if z.shape != expected:
                raise InputError(f"noise {index} must have shape {list(expected)}, got {list(z.shape)}")
        mel_batch, mel_length = pad_batch(mels, axis=-1)
        z_batch, _ = pad_batch(noise, axis=-1)
        (audio,) = self.session.run(list(WAVEGLOW_OUTPUTS), {
            "mel": mel_batch, "z": z_batch, "sigma": np.array([sigma], dtype=np.float32), "mel_length": mel_length,
        })
        return [audio[row, : n * self.hop] for row, n in enumerate(mel_length)]

    @property
    def bias_spectrum(self) -> np.ndarray:
        """|STFT| of WaveGlow's audio for an all-zero mel and no noise (DLE's denoiser bias), first frame."""
        if self._bias_spectrum is None:
            mel = np.zeros((self.n_mel_channels, DENOISER_BIAS_FRAMES), dtype=np.float32)
            z = np.zeros((self.n_group, DENOISER_BIAS_FRAMES * self.hop // self.n_group), dtype=np.float32)
            (bias_audio,) = self._vocode([mel], [z], sigma=0.0)
            self._bias_spectrum = np.abs(stft(bias_audio))[0]
        return self._bias_spectrum

    def denoise(self, audio: np.ndarray, strength: float | None = None) -> np.ndarray:
        strength = self.denoiser_strength if strength is None else strength
        spectrum = stft(audio)
        magnitude = np.maximum(np.abs(spectrum) - strength * self.bias_spectrum, 0.0)
        return istft(magnitude * np.exp(1j * np.angle(spectrum)), len(audio))


def request_audio(engine: WaveGlowEngine, mels: Sequence[np.ndarray], seeds: Sequence[int],
                  sigmas: Sequence[float], denoiser_strengths: Sequence[float]) -> list[np.ndarray]:
    """Audio of each mel with its own noise seed, sigma and denoiser strength (one batch per distinct sigma)."""
    audio: list[np.ndarray | None] = [None] * len(mels)
    for sigma in sorted(set(sigmas)):
        rows = [i for i, s in enumerate(sigmas) if s == sigma]
        # Each row's own strength below replaces the engine's default (never both).
        for row, item in zip(rows, engine([mels[i] for i in rows], [seeds[i] for i in rows], sigma=sigma,
                                          denoiser_strength=0.0)):
            audio[row] = item
    for row, strength in enumerate(denoiser_strengths):
        if strength < 0:
            raise InputError(f"DENOISER_STRENGTH must be non-negative, got {strength}")
        if strength > 0:
            audio[row] = engine.denoise(audio[row], strength)
    return audio


class WaveGlowStream:
    """One request's WaveGlow over windows of its mel, for streaming: ``stream(window, start)`` vocodes mel frames
    ``[start, start + window frames)`` with the noise of those frames in the whole mel. Windows move forward."""

    def __init__(self, engine: WaveGlowEngine, seed: int, sigma: float, denoiser_strength: float):
        self.engine = engine
        self.generator = np.random.default_rng(seed)
        self.sigma = sigma
        self.denoiser_strength = denoiser_strength
        self.context_frames = engine.context_frames
        self.offset = 0  # the frame the cached noise starts at
        self.noise = np.zeros((engine.n_group, 0), dtype=np.float32)

    def __call__(self, mel: np.ndarray, start: int) -> np.ndarray:
        end, per_frame = start + mel.shape[1], self.engine.hop // self.engine.n_group
        if start < self.offset:
            raise ValueError(f"window at frame {start} is behind the previous one at {self.offset}")
        drawn = self.offset + self.noise.shape[1] // per_frame
        if end > drawn:
            self.noise = np.concatenate([self.noise, self.engine.draw_noise(self.generator, end - drawn)], axis=1)
        self.noise, self.offset = self.noise[:, (start - self.offset) * per_frame:], start
        (audio,) = self.engine([mel], noise=[self.noise[:, : mel.shape[1] * per_frame]], sigma=self.sigma,
                               denoiser_strength=self.denoiser_strength)
        return audio
