"""TTS synthesis speed: the served ``tts`` ensemble vs the same pipeline in-process.

Random Tacotron2 weights stop at the first frame, so the gate is switched off (threshold 1.0) and every
sentence decodes exactly ``frames`` steps: what a trained model needs for a sentence of that length
(about 86 frames per second of speech; a 100-character sentence is about 6.7 s, 580 frames).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from triton_speech.client.tts import TTSClient
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.runtime.tts.pipeline import TTSPipeline
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.tacotron2 import DecoderSettings, Tacotron2Engine
from triton_speech.runtime.tts.waveglow import WaveGlowEngine
from triton_speech.server import TritonServer

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away into the quiet green forest."
FRAMES_PER_SECOND = SAMPLE_RATE / 256


def frames_for(text: str, chars_per_second: float = 15.0) -> int:
    return round(len(text) / chars_per_second * FRAMES_PER_SECOND)


def fixed_length_settings(frames: int, max_sentence_chars: int,
                          base: RepositorySettings = RepositorySettings()) -> RepositorySettings:
    """``base`` with the gate off: every sentence (up to ``max_sentence_chars``) decodes ``frames`` steps."""
    return replace(base, gate_threshold=1.0, max_decoder_steps=frames, max_sentence_chars=max_sentence_chars)


def measure(tacotron2_export: Path, waveglow_export: Path, text: str = SENTENCE, repeats: int = 2) -> list[dict]:
    frames = frames_for(text)
    settings = DecoderSettings(gate_threshold=1.0, max_decoder_steps=frames)
    pipeline = TTSPipeline(Tacotron2Engine.load(tacotron2_export, settings), WaveGlowEngine.load(waveglow_export),
                           max_sentence_chars=len(text))
    rows = []
    with tempfile.TemporaryDirectory() as folder, tqdm(total=2 * repeats, desc="tts benchmark") as bar:
        for _ in range(repeats):
            started = time.perf_counter()
            speech = pipeline(text, seed=0)
            rows.append(_row("in-process onnxruntime", text, speech.audio.shape[0], time.perf_counter() - started))
            bar.update(1)
        repository = Path(folder) / "repository"
        build(repository, Exports(tacotron2=tacotron2_export, waveglow=waveglow_export),
              fixed_length_settings(frames, len(text)))
        with TritonServer(repository) as server:
            client = TTSClient(server.grpc_url)
            for _ in range(repeats):
                started = time.perf_counter()
                served = client.synthesize(text, seed=0)
                rows.append(_row("served grpc", text, served.audio.shape[0], time.perf_counter() - started))
                bar.update(1)
    return rows


def _row(mode: str, text: str, samples: int, seconds: float) -> dict:
    audio_seconds = samples / SAMPLE_RATE
    return {"mode": mode, "text_chars": len(text), "audio_s": round(audio_seconds, 2), "wall_s": round(seconds, 2),
            "audio_s_per_s": round(audio_seconds / seconds, 3)}
