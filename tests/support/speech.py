"""Real speech: sentences spoken by espeak-ng, the held-out set, and the words a transcript is compared by."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.paths import DATA


def heldout_items(count: int | None = None) -> list[dict]:
    """The first ``count`` entries of the held-out set (tests/data/asr_heldout: voices and sentences the default
    QuartzNet never heard)."""
    from triton_speech.corpus.manifest import read_manifest

    return read_manifest(DATA / "asr_heldout" / "manifest.json")[:count]


def heldout_audio(count: int | None = None) -> list[np.ndarray]:
    from triton_speech.client.audio import load_audio

    return [load_audio(item["audio_filepath"], 16000) for item in heldout_items(count)]


def spoken_wav(text: str, path: Path, voice: str = "en-us") -> bytes:
    """``text`` spoken by espeak-ng (as `make demo` speaks it, 16 kHz WAV); returns the file's bytes."""
    from triton_speech.demo import speak

    speak(text, path) if voice == "en-us" else _speak_voice(text, path, voice)
    return path.read_bytes()


def _speak_voice(text: str, path: Path, voice: str) -> None:
    import subprocess

    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation: what a transcript is compared by."""
    import re

    return re.findall(r"[a-z']+", text.lower())
