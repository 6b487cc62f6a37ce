"""Audio checks for the server and audio loading for clients."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triton_speech.errors import InputError

# Rates the client resamples from; below this there is no speech band left to recognise.
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384000


def split_rows(
    audio: np.ndarray, lengths: np.ndarray | None, min_samples: int, max_samples: int, sample_rate: int
) -> list[np.ndarray]:
    """Validate one request's ``AUDIO`` ``[B, N]`` (and ``AUDIO_LENGTH`` ``[B, 1]``); return its rows."""
    if audio.dtype != np.float32:
        raise InputError(f"AUDIO must be FP32, got {audio.dtype}")
    if audio.ndim != 2:
        raise InputError(f"AUDIO must be [batch, samples], got shape {list(audio.shape)}")
    if lengths is None:
        row_lengths = [audio.shape[1]] * audio.shape[0]
    else:
        lengths = np.asarray(lengths).reshape(-1)
        if lengths.shape[0] != audio.shape[0]:
            raise InputError(f"AUDIO_LENGTH has {lengths.shape[0]} rows, AUDIO has {audio.shape[0]}")
        row_lengths = [int(n) for n in lengths]
    rows = []
    for row, length in enumerate(row_lengths):
        if lengths is not None and not 0 < length <= audio.shape[1]:
            raise InputError(f"AUDIO_LENGTH of row {row} is {length}: it must be between 1 and the "
                             f"{audio.shape[1]} samples sent")
        rows.append(checked_row(audio[row, :length], row, min_samples, max_samples, sample_rate))
    return rows


def checked_row(samples: np.ndarray, row: int, min_samples: int, max_samples: int | None,
                sample_rate: int) -> np.ndarray:
    """One utterance's samples, checked: at least one feature frame, within the limit, all finite."""
    length = samples.shape[0]
    if length <= 0:
        raise InputError(f"AUDIO row {row} is empty: send at least one sample")
    if length < min_samples:
        raise InputError(f"AUDIO row {row} has {length} samples; at least {min_samples} (one feature frame) are needed")
    if max_samples is not None and length > max_samples:
        raise InputError(
            f"AUDIO row {row} is {length / sample_rate:.2f} s long; the limit is "
            f"{max_samples / sample_rate:g} s (max_audio_seconds). Split the audio; it is not truncated."
        )
    if not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise InputError(f"AUDIO row {row} contains {bad} NaN or Inf samples")
    return samples


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read a WAV/FLAC/OGG file, mix to mono and resample to ``sample_rate``; float32 in [-1, 1]."""
    import soundfile
    import soxr

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise InputError(f"{path}: not a readable audio file ({error})") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: the file holds no audio samples")
    mono = data.mean(axis=1)
    if rate != sample_rate:
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise InputError(
                f"{path}: sample rate {rate} Hz cannot be resampled to {sample_rate} Hz "
                f"(supported: {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)"
            )
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
