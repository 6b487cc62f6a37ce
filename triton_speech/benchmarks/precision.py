"""QuartzNet INT8 (for CPUs) vs FP32: the acoustic model alone in ONNX Runtime, in-process, on the same clips in the
same run (``python -m ensembles --precision int8`` serves the INT8 graph). Throughput at each batch size and the
INT8 / FP32 ratio; the word error rates of both on the held-out test set (greedy decoding) beside them.
"""

from __future__ import annotations

import time
from pathlib import Path

import jiwer
import numpy as np
from tqdm import tqdm

from triton_speech.corpus.manifest import read_manifest
from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.export.precision import derived_graph
from triton_speech.runtime.asr.acoustic import AcousticModel
from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.asr.features import OnnxMelFrontend


def measure(asr_export: Path, clips: dict[float, list[np.ndarray]], batches: tuple[int, ...] = (1, 8),
            rounds: int = 2, heldout: list[tuple[np.ndarray, str]] | None = None) -> list[dict]:
    frontend = OnnxMelFrontend.load(asr_export)
    graphs = {precision: derived_graph(asr_export / "model.onnx", precision, asr_export)
              for precision in ("fp32", "int8")}
    models = {precision: AcousticModel.load(path) for precision, path in graphs.items()}
    decoder = load_decoder(asr_export / "labels.json")
    rows = []
    for seconds, audio in tqdm(sorted(clips.items()), desc="precision", unit="length"):
        features = frontend(audio)
        for batch in batches:
            speed = {}
            for precision, model in models.items():
                model(features[:batch])  # warm
                started = time.perf_counter()
                for _ in range(rounds):
                    for first in range(0, len(features), batch):
                        model(features[first : first + batch])
                speed[precision] = rounds * len(features) * seconds / (time.perf_counter() - started)
                rows.append({"precision": precision, "clip_s": seconds, "batch": batch,
                             "rtfx": round(speed[precision], 1)})
            rows.append({"precision": "int8 / fp32", "clip_s": seconds, "batch": batch,
                         "rtfx": round(speed["int8"] / speed["fp32"], 2)})
    if heldout:
        features = frontend([a for a, _ in heldout])
        for precision, model in models.items():
            hypotheses = [decoder(logprobs) for logprobs in model(features)]
            rows.append({"precision": precision, "clip_s": "held-out WER (greedy)", "batch": len(heldout),
                         "rtfx": round(jiwer.wer([text for _, text in heldout], hypotheses), 4)})
    return rows


def heldout_set(manifest: Path) -> list[tuple[np.ndarray, str]]:
    from triton_speech.client.audio import load_audio

    return [(load_audio(item["audio_filepath"], ASR_SAMPLE_RATE), item["text"]) for item in read_manifest(manifest)]
