"""Benchmark audio: English sentences spoken by espeak-ng, cut into length buckets."""

from __future__ import annotations

import shutil

import numpy as np

from triton_speech.corpus.voices import Voice, speak

SENTENCES = [
    "please call stella and ask her to bring these things with her from the store",
    "six spoons of fresh snow peas five thick slabs of blue cheese and maybe a snack for her brother bob",
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
]


def spoken(sample_rate: int = 16000, voices=("en-us", "en", "en-gb-x-rp")) -> np.ndarray:
    """All sentences in several voices, concatenated (espeak-ng), or a speech-like signal without it."""
    return np.concatenate(utterances(sample_rate, voices))


def utterances(sample_rate: int = 16000, voices=("en-us", "en", "en-gb-x-rp")) -> list[np.ndarray]:
    """Each sentence in each voice (espeak-ng), or without it 24 pieces of a speech-like signal."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        rng = np.random.default_rng(0)
        t = np.arange(60 * sample_rate) / sample_rate
        signal = (0.3 * np.sin(2 * np.pi * 150 * t) * np.sin(2 * np.pi * 3 * t) ** 2
                  + 0.02 * rng.standard_normal(t.shape)).astype(np.float32)
        return np.array_split(signal, 24)
    return [speak(sentence, Voice.espeak(voice), sample_rate) for voice in voices for sentence in SENTENCES]


def buckets(seconds: tuple[float, ...], per_bucket: int, sample_rate: int = 16000) -> dict[float, list[np.ndarray]]:
    """``per_bucket`` different clips of each length, cut from the spoken corpus."""
    corpus = spoken(sample_rate)
    result = {}
    for length in seconds:
        n = int(length * sample_rate)
        starts = np.linspace(0, max(0, corpus.shape[0] - n), per_bucket).astype(int)
        result[length] = [np.ascontiguousarray(corpus[s : s + n]) for s in starts]
    return result


def wav_files(seconds: float, clips: int, sample_rate: int = 16000) -> list[bytes]:
    """``clips`` different clips of ``seconds`` as 16-bit WAV files."""
    import io

    import soundfile

    files = []
    for clip in buckets((seconds,), clips, sample_rate)[seconds]:
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, sample_rate, format="WAV", subtype="PCM_16")
        files.append(buffer.getvalue())
    return files


def interleaved(calls, items: int, rounds: int) -> list[list[float]]:
    """Milliseconds of each ``call(index)`` for every item, the calls interleaved so that a noisy neighbour slows
    all alike (after one warm-up call each: connections, the models' first requests)."""
    import time

    for call in calls:
        call(0)
    latencies: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for index in range(items):
            for call, times in zip(calls, latencies):
                started = time.perf_counter()
                call(index)
                times.append((time.perf_counter() - started) * 1000)
    return latencies
