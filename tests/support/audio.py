"""Synthetic audio and the checks on audio the tests share: speech-like signals, SNR, streamed chunks."""

from __future__ import annotations

import numpy as np


def speechlike(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Harmonic bursts plus noise: audio with varied spectra (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = rng.uniform(90, 260)
    voiced = sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    envelope = np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
    return (0.3 * envelope * voiced + 0.03 * rng.standard_normal(t.shape)).astype(np.float32)


# Streamed Griffin-Lim speech against the tts ensemble's (docs/streaming.md, Streamed speech): measured 38-99 dB,
# median 69 dB.
GRIFFIN_LIM_STREAM_MIN_SNR_DB = 35.0


def assert_chunks_in_order(chunks) -> None:
    """Streamed chunks: each starts where the ones before it end; only the last is final and reports the step limit."""
    assert [c.offset for c in chunks] == list(np.cumsum([0] + [c.audio.size for c in chunks[:-1]]))
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert not any(c.step_limit_reached for c in chunks[:-1])


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """Signal-to-noise ratio (dB) of ``other`` against ``reference``; infinite when equal."""
    reference, other = reference.astype(np.float64), other.astype(np.float64)
    noise = np.sum((other - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))
