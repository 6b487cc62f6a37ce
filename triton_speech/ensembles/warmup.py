"""Warm-up samples: one real request per model that Triton runs before it reports the model ready.

A model's first request pays for what only happens once: ONNX Runtime's first runs (memory arenas, kernels),
librosa's numba compilation (seconds, Griffin-Lim), the tokenizer and the lexicon decoder. ``model_warmup`` makes
the server pay it before it says READY. The values are real (speech-like audio, its features, a sentence): the
models check their inputs, and refuse Triton's zero_data and random_data (NaN, zero lengths), and a warm-up that
fails stops the server.
"""

from __future__ import annotations

import numpy as np

from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import WarmupSample

WARMUP_TEXT = "Hello there, how are you today?"
WARMUP_AUDIO_SECONDS = 1.0
WARMUP_MEL_FRAMES = 40


def samples(settings: RepositorySettings, **inputs: np.ndarray) -> tuple[WarmupSample, ...]:
    """The model's warm-up (none when the settings turn warm-up off)."""
    return (WarmupSample("warmup", inputs),) if settings.warmup else ()


def text(value: str = WARMUP_TEXT) -> np.ndarray:
    return np.array([value.encode("utf-8")], dtype=np.object_)


def length(value: int, dtype=np.int64) -> np.ndarray:
    return np.array([value], dtype=dtype)


def speech_like(sample_rate: int, seconds: float = WARMUP_AUDIO_SECONDS) -> np.ndarray:
    """A voiced, syllable-like signal (harmonics of a 120 Hz pitch under a 4 Hz envelope), float32."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    voiced = sum(np.sin(2 * np.pi * k * 120.0 * t) / k for k in range(1, 8))
    return (0.2 * np.sin(2 * np.pi * 4.0 * t) ** 2 * voiced).astype(np.float32)


def log_mel(n_mel: int, frames: int = WARMUP_MEL_FRAMES) -> np.ndarray:
    """A speech-like DLE log-mel [n_mel, frames]: energy falling with frequency, rising and falling in time."""
    bands = np.linspace(-2.0, -9.0, n_mel)[:, None]
    return (bands + 2.0 * np.sin(np.linspace(0.0, np.pi, frames))[None, :]).astype(np.float32)


def log_probs(frames: int, classes: int) -> np.ndarray:
    """Log-probabilities [frames, classes] (a fixed random draw, normalized)."""
    logits = np.random.default_rng(0).normal(0.0, 3.0, (frames, classes))
    return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)


def punctuator_inputs(export_dir, text: str) -> dict[str, np.ndarray]:
    """The punctuator network's inputs for ``text`` (one window, no batch axis), as the punctuator model sends them."""
    from triton_speech.runtime.punctuation import INPUT_NAMES, Punctuator

    sent: list[tuple[np.ndarray, ...]] = []

    def record(*inputs):
        sent.append(inputs)
        batch, tokens = inputs[0].shape
        return [np.zeros((batch, tokens, len(labels)), dtype=np.float32) for labels in (punctuator.punct_labels,
                                                                                          punctuator.capit_labels)]

    punctuator = Punctuator.load(export_dir, logits=record)
    punctuator([text])
    return dict(zip(INPUT_NAMES, (np.ascontiguousarray(value[0], dtype=np.int64) for value in sent[0])))
