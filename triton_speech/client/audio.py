"""Reading audio files for the clients: any rate and channel count, as 16 kHz mono float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triton_speech.runtime.errors import InputError

# Rates the client resamples from; below this there is no speech band left to recognise.
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384000


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
