"""ASR baselines on the same audio files and weights as the served benchmark.

* ``nemo transcribe (seed)``: the seed article's service: NeMo ``EncDecCTCModel.transcribe()`` in-process,
  called per request on the uploaded file, one request at a time (as a web handler would).
* ``in-process onnxruntime``: the exported QuartzNet, front-end, CTC decoder and (when given) punctuator in
  this process at several batch sizes (``ASRPipeline``), the limit serving can approach.

Same weights, provably: the ``.nemo`` (a checkpoint, or the deterministic random QuartzNet 15x5 of the
default export written to one) is checked against the export at the parity bound of the export itself;
when the export was made from other weights, the benchmark exports from the ``.nemo`` and serves that.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from triton_speech.benchmarks import asr
from triton_speech.benchmarks.asr import Measurement
from triton_speech.client.audio import load_audio
from triton_speech.runtime.asr.features import MelFrontend
from triton_speech.runtime.asr.pipeline import ASRPipeline

NEMO_MODE = "nemo transcribe (seed)"
ONNX_MODE = "in-process onnxruntime"
RANDOM_NEMO_NAME = "quartznet_random.nemo"


def random_nemo(path: Path) -> Path:
    """The export's default random QuartzNet 15x5 (seed 0) saved as a ``.nemo``, written once."""
    from triton_speech.models.quartznet import quartznet_config, random_model

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        random_model(quartznet_config()).save_to(str(path))
    return path


def weights_match(model, export_dir: Path) -> bool:
    """Front-end and log-probs of the export equal the NeMo model's within the export's parity bound."""
    from triton_speech.export import quartznet

    if not (export_dir / "export.json").exists():
        return False
    frontend = MelFrontend.load(export_dir / "frontend.npz")
    audio = quartznet.parity_audio(frontend.config.sample_rate, seconds=(1.3,))  # any other weight shows
    try:
        frontend_error = quartznet.check_frontend(model, frontend, audio)
        logprobs = quartznet.check_onnx(model, export_dir / "model.onnx", [frontend(a) for a in audio])
    except AssertionError:  # different shapes: a different model altogether
        return False
    return frontend_error <= quartznet.PARITY_TOLERANCE and logprobs.passed


def shared_weights(asr_export: Path, nemo: Path | None, work: Path):
    """(NeMo model, export directory) of the same weights: ``asr_export`` when it matches, else an export
    of the ``.nemo`` into ``work/quartznet`` (reused when it matches)."""
    from triton_speech.export import quartznet
    from triton_speech.models.quartznet import load_nemo

    logging.getLogger("nemo_logger").setLevel(logging.ERROR)
    if nemo is None:
        if not json.loads((asr_export / "export.json").read_text()).get("random_weights", False):
            raise ValueError(f"{asr_export} was exported from a checkpoint: pass its .nemo (--quartznet-nemo)")
        nemo = random_nemo(work / RANDOM_NEMO_NAME)
    model = load_nemo(nemo)
    for candidate in (asr_export, work / "quartznet"):
        if weights_match(model, candidate):
            return model, candidate
    quartznet.export(nemo, work / "quartznet")  # checks its own parity against the .nemo
    return model, work / "quartznet"


def nemo_transcribe(model, paths: Sequence[Path], clip_seconds: float, rounds: int,
                    max_seconds: float | None = None) -> Measurement:
    """One ``transcribe([file])`` per request, sequentially; stops early after ``max_seconds`` (PyTorch
    slows down many times over on a busy machine, and throughput needs no fixed request count)."""
    model.transcribe([str(paths[0])], batch_size=1, verbose=False)  # warm-up
    latencies = []
    started = time.perf_counter()
    for path in [p for _ in range(rounds) for p in paths]:
        t = time.perf_counter()
        model.transcribe([str(path)], batch_size=1, verbose=False)
        latencies.append((time.perf_counter() - t) * 1000)
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
    return Measurement(NEMO_MODE, clip_seconds, 1, len(latencies), time.perf_counter() - started, latencies)


def measure(model, pipeline: ASRPipeline, files_by_length: Mapping[float, Sequence[Path]],
            batches: Sequence[int], rounds: int, nemo_max_seconds: float | None = None) -> list[dict]:
    """NeMo sequential and ONNX Runtime at each batch size, per clip length, on the same files."""
    plan = [(length, batch) for length in files_by_length for batch in (None, *batches)]
    rows = []
    for length, batch in tqdm(plan, desc="baselines", unit="point"):
        paths = files_by_length[length]
        if batch is None:
            rows.append(nemo_transcribe(model, paths, length, rounds, nemo_max_seconds).row())
        else:
            clips = [load_audio(path, pipeline.sample_rate) for path in paths]
            pipeline.transcribe(clips[:batch])  # warm-up
            rows.append(asr.in_process(pipeline, clips, length, batch, rounds).row())
    return rows


def comparison(served: Sequence[dict], baselines: Sequence[dict]) -> list[dict]:
    """Served / baseline ratios per clip length (served: perf_analyzer gRPC rows of the ``asr`` model).

    ``best``: best served RTFx over concurrencies vs best ONNX Runtime RTFx over batch sizes. ``at B``:
    served at concurrency B vs ONNX Runtime at batch B (the same total batch) and vs the NeMo service,
    B the largest concurrency that was also a batch size. p99: one request at a time, served vs batch 1.
    """
    served = [r for r in served if r["model"] == "asr" and r["mode"].startswith("served grpc")]
    rows = []
    for clip in sorted({r["clip_s"] for r in served} & {r["clip_s"] for r in baselines}):
        at = {mode: {r["concurrency_or_batch"]: r for r in group if r["clip_s"] == clip}
              for mode, group in (("served", served), ("onnx", [r for r in baselines if r["mode"] == ONNX_MODE]),
                                  ("nemo", [r for r in baselines if r["mode"] == NEMO_MODE]))}
        if not (at["served"] and at["onnx"] and at["nemo"]):
            continue
        best_served = max(r["rtfx"] for r in at["served"].values())
        best_onnx = max(r["rtfx"] for r in at["onnx"].values())
        nemo = at["nemo"][1]
        common = sorted(set(at["served"]) & set(at["onnx"]))
        top = common[-1] if common else max(at["served"])
        served_at_top = at["served"][top]["rtfx"]
        onnx_at_top = at["onnx"][top]["rtfx"] if top in at["onnx"] else None
        row = {"clip_s": clip, "served_best_rtfx": best_served, "onnx_best_rtfx": best_onnx,
               "served/onnx_best": _ratio(best_served, best_onnx), "B": top, "served_rtfx_at_B": served_at_top,
               "onnx_rtfx_at_B": onnx_at_top or "", "served/onnx_at_B": _ratio(served_at_top, onnx_at_top or 0),
               "nemo_rtfx": nemo["rtfx"], "served_at_B/nemo": _ratio(served_at_top, nemo["rtfx"])}
        alone = (at["served"][1]["p99_ms"], at["onnx"][1]["p99_ms"]) if 1 in at["served"] and 1 in at["onnx"] else None
        row.update({"served_p99_ms_c1": alone[0] if alone else "", "onnx_p99_ms_b1": alone[1] if alone else "",
                    "p99 served/onnx": _ratio(*alone) if alone else ""})
        rows.append(row)
    return rows


def _ratio(a: float, b: float) -> float | str:
    return round(a / b, 2) if b else ""
