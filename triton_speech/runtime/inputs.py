"""Checks of what a request sends: audio rows and UTF-8 text, each problem named (InputError)."""

from __future__ import annotations

import numpy as np

from triton_speech.runtime.errors import InputError


def split_rows(
    audio: np.ndarray, lengths: np.ndarray | None, min_samples: int, max_samples: int, sample_rate: int,
    limit_name: str = "max_audio_seconds",
) -> list[np.ndarray]:
    """Validate one request's ``AUDIO`` ``[B, N]`` (and ``AUDIO_LENGTH`` ``[B, 1]``); return its rows.
    ``limit_name``: the setting that ``max_samples`` comes from, named when a row exceeds it."""
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
        rows.append(checked_row(audio[row, :length], row, min_samples, max_samples, sample_rate, limit_name))
    return rows


def checked_row(samples: np.ndarray, row: int, min_samples: int, max_samples: int | None,
                sample_rate: int, limit_name: str = "max_audio_seconds") -> np.ndarray:
    """One utterance's samples, checked: at least one feature frame, within the limit, all finite."""
    length = samples.shape[0]
    if length <= 0:
        raise InputError(f"AUDIO row {row} is empty: send at least one sample")
    if length < min_samples:
        raise InputError(f"AUDIO row {row} has {length} samples; at least {min_samples} (one feature frame) are needed")
    if max_samples is not None and length > max_samples:
        raise InputError(
            f"AUDIO row {row} is {length / sample_rate:.2f} s long; the limit is "
            f"{max_samples / sample_rate:g} s ({limit_name}). Split the audio; it is not truncated."
        )
    if not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise InputError(f"AUDIO row {row} contains {bad} NaN or Inf samples")
    return samples


def decode_utf8(raw: bytes, max_chars: int, what: str = "TEXT") -> str:
    """A request's text bytes as ``str``; InputError names what is wrong (not UTF-8, too long)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise InputError(f"{what} must be bytes (UTF-8 text), got {type(raw).__name__}")
    raw = bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what} is not valid UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start} ({error.reason})"
        ) from None
    if len(text) > max_chars:
        raise InputError(
            f"{what} is {len(text)} characters long; the limit is {max_chars}. Split the text; it is not truncated."
        )
    return text
