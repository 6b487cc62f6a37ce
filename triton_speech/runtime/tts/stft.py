"""DLE's audio front end: the STFT and mel bands of the mels Tacotron2 predicts and the vocoders read."""

from __future__ import annotations

import numpy as np

from triton_speech.defaults import TTS_SAMPLE_RATE

SAMPLE_RATE = TTS_SAMPLE_RATE
STFT_SIZE = 1024
HOP = 256
MEL_FMAX = 8000.0


def hann_window(size: int) -> np.ndarray:
    """Periodic Hann window (scipy's ``get_window('hann', size)``), as DLE's STFT uses."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)).astype(np.float64)


def stft(audio: np.ndarray, fft_size: int = STFT_SIZE, hop: int = HOP) -> np.ndarray:
    """[frames, fft_size / 2 + 1] complex spectrum; the signal is reflect-padded by fft_size / 2 (centred frames)."""
    padded = np.pad(audio.astype(np.float64), fft_size // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, fft_size)[::hop]
    return np.fft.rfft(frames * hann_window(fft_size), axis=1)


def istft(spectrum: np.ndarray, length: int, fft_size: int = STFT_SIZE, hop: int = HOP) -> np.ndarray:
    """Inverse of ``stft``: windowed overlap-add divided by the summed squared window."""
    window = hann_window(fft_size)
    frames = np.fft.irfft(spectrum, n=fft_size, axis=1) * window
    total = fft_size + hop * (frames.shape[0] - 1)
    signal = np.zeros(total)
    window_power = np.zeros(total)
    for index, frame in enumerate(frames):
        signal[index * hop : index * hop + fft_size] += frame
        window_power[index * hop : index * hop + fft_size] += window**2
    nonzero = window_power > np.finfo(np.float64).tiny
    signal[nonzero] /= window_power[nonzero]
    return signal[fft_size // 2 : fft_size // 2 + length].astype(np.float32)
