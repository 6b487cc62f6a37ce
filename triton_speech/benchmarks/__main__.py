"""python -m benchmarks: served vs in-process ASR, punctuation and TTS, written to benchmarks/results/.

Sections (``--only``): ``asr``, ``punctuation``, ``tts`` (served through the python clients vs in-process);
``precision`` (QuartzNet INT8 vs FP32 in ONNX Runtime, throughput and held-out WER); ``warmup`` (the first request
after a server start vs steady state, with and without model_warmup); ``tts_streaming`` (time to first audio vs all
audio, tts_streaming vs tts); ``baseline`` (NeMo ``transcribe()`` per request and ONNX Runtime in-process on the
benchmark's audio files); ``perf`` (perf_analyzer sweeps of ``asr``, ``punctuator`` and ``tts``; with
``baseline``, served / baseline ratios); ``tuning`` (serving-settings sweep of ``asr`` and the pick); ``streaming``
(asr_streaming's latency at several concurrent real-time streams and the most it keeps up with; a long recording
through asr_long and the client's windows vs its utterances one by one); ``gateway`` (the REST gateway's overhead
over Triton for the same audio); ``riva`` (the Riva endpoint's Recognize vs a direct asr call, and the time to the
first interim result when streaming). Every section has knobs to shrink it.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import shutil
import signal
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from triton_speech.benchmarks import (
    asr,
    audio,
    baseline,
    gateway,
    inputs,
    perf,
    precision,
    punctuation,
    report,
    riva,
    streaming,
    tts,
    tts_streaming,
    tuning,
    warmup,
)
from triton_speech.client.audio import load_audio
from triton_speech.defaults import ASR_SAMPLE_RATE, STREAM_CHUNK_MS
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.runtime.asr.pipeline import ASRPipeline
from triton_speech.server import Ports, TritonServer

SECTIONS = ("asr", "punctuation", "tts", "precision", "warmup", "tts_streaming", "baseline", "perf", "tuning",
            "streaming", "gateway", "riva")


def _preferred(value: str) -> tuple[int, ...]:
    """``4,8`` -> (4, 8); ``none`` -> ()."""
    return () if value.lower() in ("none", "-", "") else tuple(int(v) for v in value.split(","))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--asr-export", type=Path, default=Path("build/export/quartznet"))
    parser.add_argument("--punctuator-export", type=Path, default=Path("build/export/punctuator"))
    parser.add_argument("--tacotron2-export", type=Path, default=Path("build/export/tacotron2"))
    parser.add_argument("--waveglow-export", type=Path, default=Path("build/export/waveglow"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    parser.add_argument("--clips", type=int, default=8, help="different clips per length")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tts-repeats", type=int, default=2)
    parser.add_argument("--lexicon", default="", help="warmup: the word list of the asr built (make repository's)")
    parser.add_argument("--vocoder", default=RepositorySettings().vocoder, help="warmup: the tts vocoder built")
    parser.add_argument("--warmup-repeats", type=int, default=5, help="steady-state requests after the first")
    parser.add_argument("--tts-stream-sentences", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--tts-stream-concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--tts-stream-rounds", type=int, default=2, help="requests per client and point")

    shared = parser.add_argument_group("baseline, perf and tuning")
    shared.add_argument("--work-dir", type=Path, default=Path("build/bench"),
                        help="input data, audio files, the .nemo and its export")
    shared.add_argument("--quartznet-nemo", type=Path, default=None,
                        help="the .nemo of --asr-export (default: the export's random weights, written to a .nemo)")
    shared.add_argument("--perf-seconds", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0],
                        help="clip lengths (s) of the audio files")
    shared.add_argument("--perf-clips", type=int, default=8, help="different clips per length")
    shared.add_argument("--perf-window-audio-s", type=float, default=40.0,
                        help="ASR: seconds of audio per measurement window (at least 4 requests and the concurrency)")
    shared.add_argument("--perf-requests", type=int, default=12, help="punctuator: least requests per window")
    shared.add_argument("--perf-stability", type=float, default=25.0, help="perf_analyzer -s (percent)")
    shared.add_argument("--perf-max-trials", type=int, default=6, help="windows before an unstable point is "
                        "measured once over three windows' requests instead")

    perf_group = parser.add_argument_group("perf")
    perf_group.add_argument("--perf-concurrency", type=int, nargs="+", default=[1, 4, 8], help="asr, gRPC")
    perf_group.add_argument("--perf-precisions", nargs="+", choices=("fp32", "int8"), default=["fp32", "int8"],
                            help="QuartzNet's precisions served side by side (asr)")
    perf_group.add_argument("--perf-quartznet-concurrency", type=int, nargs="*", default=[8],
                            help="the acoustic model served alone (features in), in each precision")
    perf_group.add_argument("--perf-http-concurrency", type=int, nargs="*", default=[1],
                            help="asr over HTTP, on the clips nearest 5 s")
    perf_group.add_argument("--perf-punctuator-concurrency", type=int, nargs="*", default=[1, 8])
    perf_group.add_argument("--perf-tts-concurrency", type=int, nargs="*", default=[1, 2])
    perf_group.add_argument("--perf-tts-seconds", type=float, default=1.0, help="speech per TTS request (decoder "
                            "steps are fixed: random weights never stop by themselves)")
    perf_group.add_argument("--perf-tts-requests", type=int, default=2, help="least TTS requests per window")

    baseline_group = parser.add_argument_group("baseline")
    baseline_group.add_argument("--baseline-batch", type=int, nargs="+", default=[1, 8],
                                help="ONNX Runtime batch sizes (compared with the same served concurrency)")
    baseline_group.add_argument("--baseline-rounds", type=int, default=1, help="passes over the clips")
    baseline_group.add_argument("--baseline-nemo-max-s", type=float, default=20.0,
                                help="NeMo: stop a clip length's requests after this many seconds")

    tuning_group = parser.add_argument_group("tuning")
    tuning_group.add_argument("--tune-max-batch-size", type=int, nargs="+", default=[8, 16])
    tuning_group.add_argument("--tune-queue-delay-us", type=int, nargs="+", default=[0, 2000])
    tuning_group.add_argument("--tune-preferred", type=_preferred, nargs="+", default=[(), (4, 8)],
                              help="preferred batch size sets, e.g. none 4,8")
    tuning_group.add_argument("--tune-instances", type=int, nargs="+", default=[1, 2])
    tuning_group.add_argument("--tune-instance-models", nargs="+", default=["quartznet"])
    tuning_group.add_argument("--tune-seconds", type=float, default=5.0, help="clip length (s)")
    tuning_group.add_argument("--tune-concurrency", type=int, nargs="+", default=[1, 8])
    tuning_group.add_argument("--tune-p99-budget-ms", type=float, default=None)
    tuning_group.add_argument("--tune-latency-slack", type=float, default=1.2,
                              help="keep settings whose lowest-concurrency p50 is within this factor of the best's")

    streaming_group = parser.add_argument_group("streaming")
    streaming_group.add_argument("--stream-concurrency", type=int, nargs="+", default=[1, 8, 16, 32],
                                 help="concurrent real-time streams")
    streaming_group.add_argument("--stream-chunk-ms", type=float, default=STREAM_CHUNK_MS)
    streaming_group.add_argument("--stream-seconds", type=float, default=12.0, help="audio per stream")
    streaming_group.add_argument("--stream-search-steps", type=int, default=2,
                                 help="bisection steps for the most streams that keep up")
    streaming_group.add_argument("--stream-rounds", type=int, default=2, help="clips each client streams in a row")
    streaming_group.add_argument("--stream-repeats", type=int, default=1,
                                 help="sweeps of the baseline and the built repository, alternating")
    streaming_group.add_argument("--long-minutes", type=float, default=10.0, help="the long recording (minutes)")
    streaming_group.add_argument("--long-concurrency", type=int, default=8, help="requests in flight")

    gateway_group = parser.add_argument_group("gateway")
    gateway_group.add_argument("--gateway-seconds", type=float, default=5.0, help="clip length (s)")
    gateway_group.add_argument("--gateway-clips", type=int, default=4, help="different clips")
    gateway_group.add_argument("--gateway-rounds", type=int, default=5, help="passes over the clips per path")
    gateway_group.add_argument("--gateway-port", type=int, default=0, help="the gateway's port (0: a free one)")
    riva_group = parser.add_argument_group("riva")
    riva_group.add_argument("--riva-seconds", type=float, default=5.0, help="clip length (s)")
    riva_group.add_argument("--riva-clips", type=int, default=4, help="different clips")
    riva_group.add_argument("--riva-rounds", type=int, default=5, help="passes over the clips per path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the servers' context managers stop them.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args.output.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    needs_clips = {"asr", "punctuation", "precision"} & set(args.only)
    clips = audio.buckets(tuple(args.seconds), args.clips) if needs_clips else {}

    if "asr" in args.only:
        pipeline = ASRPipeline.from_export(args.asr_export)
        with TritonServer(args.model_repository) as server:
            rows = asr.sweep(server.grpc_url, pipeline, clips, tuple(args.concurrency), tuple(args.batch), args.rounds)
        report.plot_throughput_latency(rows, args.output / "asr.png")
        source = json.loads((args.asr_export / "export.json").read_text())["source"]
        write(args.output, "asr", rows, f"ASR benchmark\n\nMachine: {machine}. Model: {source}. {asr.__doc__.strip()}",
              extra="## Served / in-process (best RTFx per clip length)\n\n" + report.markdown_table(summary(rows)))

    if "punctuation" in args.only:
        info = json.loads((args.punctuator_export / "export.json").read_text())
        rows = punctuation.measure(args.asr_export, args.punctuator_export, clips[min(clips)][:4])
        write(args.output, "punctuation", rows,
              f"Punctuation latency\n\nMachine: {machine}. Punctuator: {info['source']}, {info['num_hidden_layers']} "
              f"layers, hidden {info['hidden_size']}. {punctuation.__doc__.strip()}")

    if "precision" in args.only:
        heldout = precision.heldout_set(Path("tests/data/asr_heldout/manifest.json"))
        rows = precision.measure(args.asr_export, clips, tuple(args.batch), args.rounds, heldout)
        write(args.output, "precision", rows, f"QuartzNet INT8 vs FP32\n\nMachine: {machine}. "
              f"{precision.__doc__.strip()}")

    if "tts" in args.only:
        rows = tts.measure(args.tacotron2_export, args.waveglow_export, repeats=args.tts_repeats)
        write(args.output, "tts", rows, f"TTS synthesis speed\n\nMachine: {machine}. {tts.__doc__.strip()}")

    if "warmup" in args.only:
        exports = Exports(asr=args.asr_export, punctuator=args.punctuator_export, tacotron2=args.tacotron2_export,
                          waveglow=args.waveglow_export)
        sample = audio.buckets((2.0,), 1)[2.0][0]
        rows = warmup.measure(exports, RepositorySettings(lexicon=args.lexicon, vocoder=args.vocoder), sample,
                              args.warmup_repeats)
        write(args.output, "warmup", rows, f"First request after a start vs steady state\n\nMachine: {machine}. "
              f"Vocoder: {args.vocoder}. {warmup.__doc__.strip()}")

    if "tts_streaming" in args.only:
        with TritonServer(args.model_repository) as server:
            rows = tts_streaming.measure(server.grpc_url, tuple(args.tts_stream_sentences),
                                         tuple(args.tts_stream_concurrency), args.tts_stream_rounds)
        write(args.output, "tts_streaming", rows, f"Streaming TTS: time to first audio\n\nMachine: {machine}. "
              f"Repository: {args.model_repository}. {tts_streaming.__doc__.strip()}")

    if "streaming" in args.only:
        run_streaming(args, machine)

    if "gateway" in args.only:
        with TritonServer(args.model_repository) as server:
            rows = gateway.measure(server.grpc_url, args.gateway_seconds, args.gateway_clips, args.gateway_rounds,
                                   args.gateway_port or free_port())
        write(args.output, "gateway", rows, f"Gateway overhead\n\nMachine: {machine}. {gateway.__doc__.strip()}")

    if "riva" in args.only:
        with TritonServer(args.model_repository) as server:
            recognize, streamed = riva.measure(server.grpc_url, args.riva_seconds, args.riva_clips,
                                               args.riva_rounds, free_port())
        heading = f"Riva endpoint: overhead and streaming latency\n\nMachine: {machine}. {riva.__doc__.strip()}"
        write(args.output, "riva", recognize, heading)
        write(args.output, "riva_streaming", streamed, heading)

    if not {"baseline", "perf", "tuning"} & set(args.only):
        return 0
    lengths = sorted(set(args.perf_seconds) | ({args.tune_seconds} if "tuning" in args.only else set()))
    data = inputs.write_all(args.work_dir / "inputs", lengths, args.perf_clips)
    settings = perf.PerfSettings(args.perf_requests, args.perf_stability, args.perf_max_trials)
    # Served sections serve the export the baselines proved to share their weights (or --asr-export).
    asr_export, baseline_rows = args.asr_export, []

    if "baseline" in args.only:
        model, asr_export = baseline.shared_weights(args.asr_export, args.quartznet_nemo, args.work_dir)
        pipeline = ASRPipeline.from_export(asr_export, args.punctuator_export)
        baseline_rows = baseline.measure(model, pipeline, {s: data.audio[s] for s in args.perf_seconds},
                                         args.baseline_batch, args.baseline_rounds, args.baseline_nemo_max_s)
        del model, pipeline
        write(args.output, "baseline", baseline_rows,
              f"ASR baselines\n\nMachine: {machine}. Export: {asr_export}. {baseline.__doc__.strip()}")

    if "perf" in args.only:
        rows, split, stages = run_perf(args, data, asr_export, settings)
        write(args.output, "perf", rows, f"Served models under perf_analyzer\n\nMachine: {machine}. Export: "
              f"{asr_export}. Settings: ensembles/settings.py defaults, QuartzNet in each precision. "
              f"{perf.__doc__.strip()}")
        write(args.output, "perf_server", split, "Server-side split per ensemble step (Triton statistics)\n\n"
              "Per request: mean queue and compute time (ms) of each step; avg_batch: the dynamic batches formed.")
        served_rows = [r for r in rows if r["model"] in ("asr", "quartznet")]
        write(args.output, "perf_ratios", perf.ratios(served_rows), f"Served / in-process and INT8 / FP32 (asr)\n\n"
              f"Machine: {machine}. {inspect.cleandoc(perf.ratios.__doc__)}",
              extra="## What each step costs (one request at a time)\n\n"
                    f"{inspect.cleandoc(perf.step_costs.__doc__)}\n\n"
                    + report.markdown_table(perf.step_costs(served_rows, split, stages)))
        for model, throughput in (("asr", "rtfx"), ("punctuator", "throughput_rps"), ("tts", "rtfx")):
            served = [r for r in rows if r["model"] == model]
            if served:
                report.plot_throughput_latency(
                    [dict(r, mode=perf.system(r)) for r in served]
                    + ([r for r in baseline_rows if r["mode"] == baseline.NEMO_MODE] if model == "asr" else []),
                    args.output / f"perf_{model}.png", throughput, f"{model}: ")
        fp32 = [r for r in rows if r.get("precision", "fp32") == "fp32"]
        ratios = baseline.comparison(fp32, [r for r in fp32 if r["mode"] == baseline.ONNX_MODE]
                                     + [r for r in baseline_rows if r["mode"] == baseline.NEMO_MODE])
        if ratios:
            write(args.output, "served_vs_baselines", ratios,
                  f"Served / baselines (ASR, same audio and weights)\n\nMachine: {machine}. "
                  f"{inspect.cleandoc(baseline.comparison.__doc__)}")

    if "tuning" in args.only:
        grid = tuning.TuningGrid(tuple(args.tune_max_batch_size), tuple(args.tune_queue_delay_us),
                                 tuple(args.tune_preferred), tuple(args.tune_instances),
                                 tuple(args.tune_instance_models))
        rows = tuning.sweep(Exports(asr=asr_export, punctuator=args.punctuator_export), grid,
                            data.asr[args.tune_seconds], args.tune_seconds, args.tune_concurrency, settings,
                            requests_per_window=perf.requests_for_audio(args.perf_window_audio_s, args.tune_seconds))
        write(args.output, "tuning", rows,
              f"Serving-settings sweep (asr, {args.tune_seconds:g} s clips)\n\nMachine: {machine}. "
              f"{tuning.__doc__.strip()}",
              extra=tuning.pick_report(rows, args.tune_p99_budget_ms, args.tune_latency_slack))
    return 0


def run_perf(args: argparse.Namespace, data: inputs.InputData, asr_export: Path,
             settings: perf.PerfSettings) -> tuple[list[dict], list[dict], dict]:
    """perf_analyzer over every point, asr in each precision (``--perf-precisions``) on its own server, all up at
    once: for each clip length the in-process pipeline (each precision, each batch size), the served points of each
    precision, then the in-process pipeline again (its two passes merged), so that served and in-process see the
    same load; then asr over HTTP on the clips nearest 5 s, the punctuator and tts (gate off, each sentence decoding
    ``--perf-tts-seconds`` of speech) on the FP32 server. Returns the rows, the per-step split and the in-process
    stage times per (precision, clip length)."""
    frames = round(args.perf_tts_seconds * tts.FRAMES_PER_SECOND)
    with_tts = bool(args.perf_tts_concurrency)
    fixed = tts.fixed_length_settings(frames, max(len(t) for t in inputs.TTS_SENTENCES))
    repositories = {}
    for kind in args.perf_precisions:
        exports = Exports(asr=asr_export, punctuator=args.punctuator_export,
                          tacotron2=args.tacotron2_export if with_tts and kind == "fp32" else None,
                          waveglow=args.waveglow_export if with_tts and kind == "fp32" else None)
        repositories[kind] = args.work_dir / f"perf_repository_{kind}"
        shutil.rmtree(repositories[kind], ignore_errors=True)
        build(repositories[kind], exports, replace(fixed, precision=kind))
    pipelines = {kind: perf.in_process_pipeline(asr_export, args.punctuator_export, kind)
                 for kind in args.perf_precisions}
    rows, split, stages = [], [], {}
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(serving(repository)) for kind, repository in repositories.items()}
        for seconds in tqdm(args.perf_seconds, desc="perf", unit="clip length"):
            clips = [load_audio(path, ASR_SAMPLE_RATE) for path in data.audio[seconds]]
            features = inputs.features_input_data(data.audio[seconds], asr_export,
                                                  args.work_dir / "inputs" / f"features_{seconds:g}s.json")
            first = {(p, b): asr.in_process(pipeline, clips, seconds, b, args.baseline_rounds)
                     for p, pipeline in pipelines.items() for b in args.baseline_batch}
            first_stages = {p: asr.stage_times(pipeline, clips) for p, pipeline in pipelines.items()}
            for kind, server in servers.items():
                window = perf.requests_for_audio(args.perf_window_audio_s, seconds)
                points = [perf.Point("asr", data.asr[seconds], c, "grpc", seconds, window)
                          for c in args.perf_concurrency]
                points += [perf.Point("quartznet", features, c, "grpc", seconds, window)
                           for c in args.perf_quartznet_concurrency]
                found, steps = perf.sweep(server.grpc_url, server.http_url, points, settings,
                                          desc=f"asr {seconds:g} s {kind}", admin_key=server.admin_key)
                rows += [dict(r, precision=kind) for r in found]
                split += [dict(r, precision=kind) for r in steps]
            for (kind, batch), measured in first.items():
                again = asr.in_process(pipelines[kind], clips, seconds, batch, args.baseline_rounds)
                rows.append(dict(perf.in_process_row(asr.merged(measured, again).row()), precision=kind))
            for kind, pipeline in pipelines.items():
                again = asr.stage_times(pipeline, clips)
                stages[kind, seconds] = {stage: round((ms + again[stage]) / 2, 2)
                                         for stage, ms in first_stages[kind].items()}
        fp32 = servers.get("fp32") or next(iter(servers.values()))
        http_length = min(args.perf_seconds, key=lambda s: abs(s - 5.0))
        points = [perf.Point("asr", data.asr[http_length], c, "http", http_length,
                             perf.requests_for_audio(args.perf_window_audio_s, http_length))
                  for c in args.perf_http_concurrency]
        points += [perf.Point("punctuator", data.punctuator, c) for c in args.perf_punctuator_concurrency]
        if "fp32" in servers and with_tts:
            points += [perf.Point("tts", data.tts, c, audio_seconds=round(frames / tts.FRAMES_PER_SECOND, 3),
                                  requests_per_window=args.perf_tts_requests) for c in args.perf_tts_concurrency]
        found, steps = perf.sweep(fp32.grpc_url, fp32.http_url, points, settings, admin_key=fp32.admin_key)
        kind = "fp32" if "fp32" in servers else next(iter(servers))
        rows += [dict(r, precision=kind) for r in found]
        split += [dict(r, precision=kind) for r in steps]
    return rows, split, stages


def run_streaming(args: argparse.Namespace, machine: str) -> None:
    """asr_streaming of the built repository beside the baseline (built here), then asr_long, on espeak-ng speech."""
    pieces = audio.utterances()
    corpus = np.concatenate(pieces)
    length = int(args.stream_seconds * ASR_SAMPLE_RATE)
    clips = [np.roll(corpus, -k * length)[:length] for k in range(2 * max(args.stream_concurrency))]
    baseline_repository = args.work_dir / "streaming_baseline"
    build(baseline_repository, Exports(asr=args.asr_export), streaming.baseline_settings(args.lexicon))
    rows, most = [], {}
    for repeat in range(args.stream_repeats):
        for system, repository in (("baseline", baseline_repository), ("as built", args.model_repository)):
            with serving(repository) as server:
                found, best = streaming.streaming(server.grpc_url, clips, tuple(args.stream_concurrency),
                                                  args.stream_chunk_ms, args.stream_search_steps, args.stream_rounds)
            most.setdefault(system, []).append(best)
            rows += [{"system": system, "repeat": repeat + 1, **row} for row in found]
    with TritonServer(args.model_repository) as server:
        long_rows = streaming.long_audio(server.grpc_url, server.http_url, pieces, args.long_minutes,
                                         args.long_concurrency)
    kept = ", ".join(f"{system} {' / '.join(map(str, counts))}" for system, counts in most.items())
    write(args.output, "streaming", rows,
          f"Streaming ASR (asr_streaming)\n\nMachine: {machine}. {args.stream_seconds:g} s of speech per stream, "
          f"chunks of {args.stream_chunk_ms:g} ms sent in real time. {streaming.__doc__.strip()}",
          extra=f"Most real-time streams kept up with (p99 within one chunk), per repeat: **{kept}**.")
    report.plot_streaming(rows, args.output / "streaming.png")
    separate = long_rows[0]["rtfx"]
    for row in long_rows:
        row["vs_one_by_one"] = round(row["rtfx"] / separate, 2)
    write(args.output, "long_audio", long_rows, f"Long audio (asr_long)\n\nMachine: {machine}.")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serving(repository: Path) -> TritonServer:
    """A server of ``repository`` on free ports (the benchmark may run two at once, or beside `make serve`)."""
    return TritonServer(repository, ports=Ports(http=free_port(), grpc=free_port(), metrics=free_port()))


def write(folder: Path, name: str, rows: list[dict], heading: str, extra: str = "") -> None:
    """``name``.csv and ``name``.md (heading, table, extra) in ``folder``; the Markdown is printed too."""
    report.write_csv(rows, folder / f"{name}.csv")
    text = f"# {heading}\n\n{report.markdown_table(rows)}\n" + (f"\n{extra}\n" if extra else "")
    (folder / f"{name}.md").write_text(text)
    print(text)


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for clip in sorted({r["clip_s"] for r in rows}):
        best = {mode: max(r["rtfx"] for r in rows if r["mode"] == mode and r["clip_s"] == clip)
                for mode in ("served grpc", "in-process onnxruntime")}
        out.append({"clip_s": clip, "served_rtfx": best["served grpc"],
                    "in_process_rtfx": best["in-process onnxruntime"],
                    "served/in_process": round(best["served grpc"] / best["in-process onnxruntime"], 2)})
    return out


if __name__ == "__main__":
    sys.exit(main())
