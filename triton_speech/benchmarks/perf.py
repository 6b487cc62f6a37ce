"""Served throughput and latency measured by ``perf_analyzer`` (tritonclient 2.51 wheel), one point per run.

Each point is one perf_analyzer run at a fixed concurrency with real input data (``benchmarks.inputs``):
count windows (a window holds at least ``requests_per_window`` requests; fewer for long clips, see
``requests_for_audio``), stable when three consecutive windows agree within ``stability_percent``. When the machine is
too noisy for that after ``max_trials`` windows, the point is measured once more over a fixed request
count and marked ``stable=False`` rather than lost. Client latencies (p50/p90/p99) are perf_analyzer's;
the server-side queue/compute split comes from Triton's statistics API, summed over an ensemble's steps
(perf_analyzer's CSV puts an ensemble's queueing under "Network+Server Send/Recv").
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from triton_speech.client.connection import TritonConnection
from triton_speech.server import ADMIN_HEADER, GRPC_ADMIN_HEADER, ServerError, bundled_library_dir

UNSTABLE = "Failed to obtain stable measurement"


class PerfAnalyzerError(RuntimeError):
    """perf_analyzer is missing or failed for another reason than an unstable measurement."""


@dataclass(frozen=True)
class PerfSettings:
    requests_per_window: int = 12
    stability_percent: float = 25.0
    max_trials: int = 6
    timeout_s: float = 600.0


@dataclass(frozen=True)
class Point:
    """One measurement: ``model`` fed ``input_data`` at ``concurrency`` over ``protocol``.

    ``audio_seconds``: audio per request (ASR input, TTS output) for RTFx; None where there is none.
    """

    model: str
    input_data: Path
    concurrency: int
    protocol: str = "grpc"
    audio_seconds: float | None = None
    requests_per_window: int | None = None  # PerfSettings' by default; fewer for slow models (TTS)


def executable() -> Path:
    """perf_analyzer next to this interpreter (the wheel's console script) or on PATH."""
    beside = Path(sys.executable).parent / "perf_analyzer"
    found = beside if beside.exists() else shutil.which("perf_analyzer")
    if found is None:
        raise PerfAnalyzerError("perf_analyzer not found: the tritonclient wheel installs it (`make setup`)")
    return Path(found)


def environment() -> dict[str, str]:
    """The wheel's perf_analyzer needs libb64 and libcudart, shipped only in nvidia-pytriton under hashed names."""
    env = dict(os.environ)
    try:
        links = str(bundled_library_dir())
    except ServerError:
        return env  # an NGC container has the libraries on the default path
    env["LD_LIBRARY_PATH"] = os.pathsep.join(d for d in (links, env.get("LD_LIBRARY_PATH", "")) if d)
    return env


def requests_per_window(point: Point, settings: PerfSettings) -> int:
    return max(point.requests_per_window or settings.requests_per_window, point.concurrency)


def requests_for_audio(window_audio_seconds: float, clip_seconds: float, least: int = 4) -> int:
    """Requests per window holding ``window_audio_seconds`` of audio: long clips need fewer for the same
    stability, and a window of 20 s clips then takes as long as one of 2 s clips."""
    return max(least, round(window_audio_seconds / clip_seconds))


def command(url: str, point: Point, settings: PerfSettings, csv_path: Path,
            request_count: int | None = None, admin_key: str | None = None) -> list[str]:
    """The perf_analyzer command line of one point; ``request_count`` measures once, without stabilizing.
    ``admin_key``: for a server that restricts its statistics (the launcher's leave them open), which
    perf_analyzer reads."""
    args = [str(executable()), "-m", point.model, "-u", url, "-i", point.protocol,
            "--input-data", str(point.input_data), "--concurrency-range", f"{point.concurrency}:{point.concurrency}",
            "-f", str(csv_path)]
    if admin_key:
        args += ["-H", f"{GRPC_ADMIN_HEADER if point.protocol == 'grpc' else ADMIN_HEADER}:{admin_key}"]
    if request_count is not None:
        return args + ["--request-count", str(request_count)]
    return args + ["--measurement-mode", "count_windows",
                   "--measurement-request-count", str(requests_per_window(point, settings)),
                   "-s", f"{settings.stability_percent:g}", "--max-trials", str(settings.max_trials)]


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, env=environment(), capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise PerfAnalyzerError(f"perf_analyzer ran over {timeout_s:.0f} s: {' '.join(args)}") from error


def run_perf_analyzer(url: str, point: Point, settings: PerfSettings = PerfSettings(),
                      admin_key: str | None = None) -> tuple[dict, bool]:
    """perf_analyzer's CSV row of one point and whether it was stable."""
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "perf.csv"
        result = _run(command(url, point, settings, csv_path, admin_key=admin_key), settings.timeout_s)
        stable = result.returncode == 0
        output = result.stdout + result.stderr
        if not stable and UNSTABLE in output:
            fixed_count = 3 * requests_per_window(point, settings)  # as many as three stable windows
            result = _run(command(url, point, settings, csv_path, request_count=fixed_count, admin_key=admin_key),
                          settings.timeout_s)
            output = result.stdout + result.stderr
        if result.returncode != 0 or not csv_path.exists():
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise PerfAnalyzerError(f"perf_analyzer failed (exit {result.returncode}) on {point}:\n{tail}")
        with open(csv_path) as handle:
            rows = list(csv.DictReader(handle))
    return rows[-1], stable


class ServerStatistics:
    """Per-model request counts and cumulative queue/compute times from Triton's statistics API (open on the
    launcher's servers; ``admin_key`` for one that restricts it, and perf_analyzer runs with it)."""

    def __init__(self, url: str, protocol: str = "grpc", admin_key: str | None = None):
        self.connection = TritonConnection(url, protocol)
        self.admin_key = admin_key
        self.headers = {GRPC_ADMIN_HEADER if protocol == "grpc" else ADMIN_HEADER: admin_key} if admin_key else None

    def _json(self, method: str, *args) -> dict:
        call = getattr(self.connection.client, method)
        return call(*args, headers=self.headers, **({"as_json": True} if self.connection.protocol == "grpc" else {}))

    def steps(self, model: str) -> list[str]:
        """The models that do the work of ``model``: an ensemble's steps, else the model itself."""
        config = self._json("get_model_config", model)
        config = config.get("config", config)
        return [step["model_name"] for step in config.get("ensemble_scheduling", {}).get("step", [])] or [model]

    def snapshot(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for entry in self._json("get_inference_statistics").get("model_stats", []):
            stats = entry.get("inference_stats", {})
            counts = totals.setdefault(entry["name"], dict.fromkeys(
                ("requests", "inferences", "executions", "queue_ns", "compute_ns"), 0))
            counts["requests"] += int(stats.get("success", {}).get("count", 0))
            counts["inferences"] += int(entry.get("inference_count", 0))
            counts["executions"] += int(entry.get("execution_count", 0))
            counts["queue_ns"] += int(stats.get("queue", {}).get("ns", 0))
            counts["compute_ns"] += sum(int(stats.get(part, {}).get("ns", 0))
                                        for part in ("compute_input", "compute_infer", "compute_output"))
        return totals

    def close(self) -> None:
        self.connection.close()


def server_split(before: dict, after: dict, steps: Sequence[str]) -> list[dict]:
    """Per step: requests, mean dynamic batch, mean queue and compute time per request (ms) between snapshots."""
    split = []
    for step in steps:
        delta = {key: after[step][key] - before.get(step, {}).get(key, 0) for key in after[step]}
        requests = max(delta["requests"], 1)
        split.append({"step": step, "requests": delta["requests"],
                      "avg_batch": round(delta["inferences"] / max(delta["executions"], 1), 2),
                      "queue_ms": round(delta["queue_ns"] / requests / 1e6, 2),
                      "compute_ms": round(delta["compute_ns"] / requests / 1e6, 2)})
    return split


def measure(url: str, point: Point, statistics: ServerStatistics,
            settings: PerfSettings = PerfSettings()) -> tuple[dict, list[dict]]:
    """One point: the result row (throughput, RTFx, latencies, server queue/compute) and the per-step split."""
    steps = statistics.steps(point.model)
    before = statistics.snapshot()
    measured, stable = run_perf_analyzer(url, point, settings, statistics.admin_key)
    split = server_split(before, statistics.snapshot(), steps)
    throughput = float(measured["Inferences/Second"])
    # perf_analyzer's mean latency, as the sum of its parts (microseconds)
    parts = ("Client Send", "Network+Server Send/Recv", "Server Queue", "Server Compute Input",
             "Server Compute Infer", "Server Compute Output", "Client Recv")
    mean_ms = round(sum(float(measured[part]) for part in parts if part in measured) / 1000, 1)
    row = {
        "model": point.model,
        "mode": f"served {point.protocol} (perf_analyzer)",
        "clip_s": point.audio_seconds if point.audio_seconds is not None else "",
        "concurrency_or_batch": point.concurrency,
        "throughput_rps": round(throughput, 3),
        "rtfx": round(throughput * point.audio_seconds, 2) if point.audio_seconds is not None else "",
        **{f"p{q}_ms": round(float(measured[f"p{q} latency"]) / 1000, 1) for q in (50, 90, 99)},
        "mean_ms": mean_ms,
        "server_queue_ms": round(sum(s["queue_ms"] for s in split), 2),
        "server_compute_ms": round(sum(s["compute_ms"] for s in split), 2),
        "stable": stable,
    }
    context = {k: row[k] for k in ("model", "mode", "clip_s", "concurrency_or_batch")}
    return row, [{**context, **s} for s in split]


def sweep(grpc_url: str, http_url: str, points: Sequence[Point], settings: PerfSettings = PerfSettings(),
          desc: str = "perf_analyzer", admin_key: str | None = None) -> tuple[list[dict], list[dict]]:
    """All points against one server (progress bar per point); returns (rows, per-step split rows).
    ``admin_key``: for a server that restricts its statistics API."""
    urls = {"grpc": grpc_url, "http": http_url}
    statistics = ServerStatistics(grpc_url, admin_key=admin_key)
    rows, splits = [], []
    try:
        for point in tqdm(points, desc=desc, unit="point"):
            row, split = measure(urls[point.protocol], point, statistics, settings)
            rows.append(row)
            splits += split
    finally:
        statistics.close()
    return rows, splits


IN_PROCESS = "in-process onnxruntime"


def in_process_pipeline(asr_export: Path, punctuator_export: Path | None, precision: str):
    """The asr pipeline in this process with QuartzNet's graph in ``precision`` (as the builder derives it)."""
    from triton_speech.export.precision import derived_graph
    from triton_speech.runtime.asr.acoustic import AcousticModel
    from triton_speech.runtime.asr.pipeline import ASRPipeline

    pipeline = ASRPipeline.from_export(asr_export, punctuator_export)
    pipeline.acoustic = AcousticModel.load(derived_graph(asr_export / "model.onnx", precision, asr_export))
    return pipeline


def in_process_row(measured: dict) -> dict:
    """An in-process measurement (``benchmarks.asr``) as a row of this table."""
    return {"model": "asr", **{key: measured[key] for key in ("mode", "clip_s", "concurrency_or_batch")},
            "throughput_rps": measured["throughput_rps"], "rtfx": measured["rtfx"],
            **{key: measured[key] for key in ("p50_ms", "p90_ms", "p99_ms", "mean_ms")},
            "server_queue_ms": "", "server_compute_ms": "", "stable": ""}


def system(row: dict) -> str:
    """What a row measured, for the plots: its mode and, beside FP32, its precision."""
    precision = row.get("precision", "fp32")
    return row["mode"] if precision == "fp32" else f"{row['mode']}, {precision}"


def ratios(rows: Sequence[dict]) -> list[dict]:
    """Per precision and clip length, from rows of one run (served gRPC rows of ``asr`` and the in-process pipeline
    measured before and after them): ``served/in_process``, the best served RTFx over concurrencies against the
    best in-process RTFx over batch sizes; ``p99 served/in_process``, one request at a time (concurrency 1 against
    batch 1); and per clip length the best served RTFx of INT8 against FP32's (the same clips, servers up side by
    side): ``int8/fp32 served asr``, the whole ensemble, and ``... quartznet``, the acoustic model served alone
    (features in), the part quantization speeds up."""
    out = []
    best: dict = {}
    for row in rows:
        kind = "in-process" if row["mode"] == IN_PROCESS else "served" if row["mode"].startswith("served grpc") else ""
        if kind:
            key = (row.get("precision", "fp32"), row["clip_s"], kind if row["model"] == "asr" else row["model"])
            best[key] = max(best.get(key, 0.0), row["rtfx"])
    alone = {(r.get("precision", "fp32"), r["clip_s"], r["mode"] == IN_PROCESS): r["p99_ms"] for r in rows
             if r["concurrency_or_batch"] == 1 and r["model"] == "asr"
             and (r["mode"] == IN_PROCESS or r["mode"].startswith("served grpc"))}
    for precision, clip in sorted({(p, c) for p, c, kind in best if kind in ("served", "in-process")},
                                  key=lambda k: (k[1], k[0])):
        served, local = best.get((precision, clip, "served")), best.get((precision, clip, "in-process"))
        p99 = alone.get((precision, clip, False)), alone.get((precision, clip, True))
        row = {"precision": precision, "clip_s": clip, "served_best_rtfx": served or "",
               "in_process_best_rtfx": local or "",
               "served/in_process": round(served / local, 2) if served and local else "",
               "served_p99_ms_c1": p99[0] or "", "in_process_p99_ms_b1": p99[1] or "",
               "p99 served/in_process": round(p99[0] / p99[1], 2) if all(p99) else ""}
        fp32 = best.get(("fp32", clip, "served"))
        row["int8/fp32 served asr"] = round(served / fp32, 2) if precision == "int8" and served and fp32 else ""
        model, model_fp32 = best.get((precision, clip, "quartznet")), best.get(("fp32", clip, "quartznet"))
        row["int8/fp32 served quartznet"] = (round(model / model_fp32, 2) if precision == "int8" and model
                                             and model_fp32 else "")
        out.append(row)
    return out


def step_costs(rows: Sequence[dict], split: Sequence[dict], stages: dict) -> list[dict]:
    """Where a request's time goes, served at concurrency 1 against the same stages in-process (one clip at a time):
    per ensemble step, Triton's queue and compute time (compute: the python stub's execute with its input and output
    tensor copies) against the in-process stage (medians of the passes before and after the served points), and the
    rest of the client's mean latency (gRPC, the ensemble's hops between steps, the response). ``extra_ms``: served
    minus in-process."""
    out = []
    for row in rows:
        if row["model"] != "asr" or not row["mode"].startswith("served grpc") or row["concurrency_or_batch"] != 1:
            continue
        precision, clip = row.get("precision", "fp32"), row["clip_s"]
        local = stages.get((precision, clip), {})
        steps = [s for s in split if s.get("precision", "fp32") == precision and s["clip_s"] == clip
                 and s["mode"] == row["mode"] and s["concurrency_or_batch"] == 1]
        for step in steps:
            served = step["queue_ms"] + step["compute_ms"]
            out.append({"precision": precision, "clip_s": clip, "step": step["step"], "queue_ms": step["queue_ms"],
                        "compute_ms": step["compute_ms"], "in_process_ms": local.get(step["step"], ""),
                        "extra_ms": round(served - local[step["step"]], 2) if step["step"] in local else ""})
        inside = sum(s["queue_ms"] + s["compute_ms"] for s in steps)
        out.append({"precision": precision, "clip_s": clip,
                    "step": "gRPC, ensemble hops, response (client mean - steps)", "queue_ms": "", "compute_ms": "",
                    "in_process_ms": 0.0, "extra_ms": round(row["mean_ms"] - inside, 2)})
        out.append({"precision": precision, "clip_s": clip, "step": "total (client mean / in-process sum)",
                    "queue_ms": "", "compute_ms": row["mean_ms"], "in_process_ms": round(sum(local.values()), 2),
                    "extra_ms": round(row["mean_ms"] - sum(local.values()), 2)})
    return out
