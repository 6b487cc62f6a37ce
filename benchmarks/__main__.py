"""python -m benchmarks: served vs in-process ASR, punctuation and TTS, written to benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from benchmarks import asr, audio, punctuation, report, tts
from triton_speech.pipeline import ASRPipeline
from triton_speech.server import TritonServer

SECTIONS = ("asr", "punctuation", "tts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
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
    args = parser.parse_args(argv)

    args.output.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    clips = audio.buckets(tuple(args.seconds), args.clips)

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

    if "tts" in args.only:
        rows = tts.measure(args.tacotron2_export, args.waveglow_export, repeats=args.tts_repeats)
        write(args.output, "tts", rows, f"TTS synthesis speed\n\nMachine: {machine}. {tts.__doc__.strip()}")
    return 0


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
