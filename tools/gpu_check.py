"""make gpu-check: on a machine with an NVIDIA GPU, build the GPU repository, serve it, compare with the CPU.

    python tools/gpu_check.py [--precision fp32|fp16] [--output build/gpu_check]

Needs the exports (make export) and onnxruntime-gpu in place of onnxruntime (the gpu extra). Builds the pip target
with ``--device gpu`` (the Triton this project installs runs python models; their ONNX Runtime sessions ask for
TensorRT, then CUDA), serves it, and checks against the CPU pipeline in-process:
- the ONNX Runtime providers the served models got (from the server log): a GPU provider, or it fails;
- transcripts of the held-out test set, GPU vs CPU: word error rate of each against the references (FP16 may change
  a few words: the GPU's must stay within a point of the CPU's);
- TTS audio of three sentences, GPU vs CPU: same length, SNR reported;
- perf_analyzer RTFx of the asr ensemble on 5 s clips at concurrency 8.
Writes ``report.md`` in the output folder and exits non-zero when a check fails. Sized for under 8 minutes.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import jiwer
import numpy as np

CHECK_TEXTS = ["The train to London leaves at seven thirty in the evening.", "Please call Emma on Friday.",
               "It costs four dollars and fifty cents."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exports", type=Path, default=Path("build/export"))
    parser.add_argument("--lexicon", type=Path, default=Path("defaults/quartznet_small.lexicon.txt"))
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--output", type=Path, default=Path("build/gpu_check"))
    args = parser.parse_args(argv)
    started = time.monotonic()

    import onnxruntime

    from triton_speech.benchmarks import inputs, perf
    from triton_speech.client import ASRClient, TTSClient
    from triton_speech.client.audio import load_audio
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.runtime.asr.pipeline import ASRPipeline
    from triton_speech.runtime.onnx import providers_for
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine
    from triton_speech.server import TritonServer
    from triton_speech.training.manifest import read_manifest

    providers_for("gpu", onnxruntime.get_available_providers())  # fails clearly without onnxruntime-gpu
    lexicon = str(args.lexicon) if args.lexicon.exists() else ""
    repository = args.output / "repository"
    build(repository, Exports(asr=args.exports / "quartznet", punctuator=args.exports / "punctuator",
                              tacotron2=args.exports / "tacotron2"),
          RepositorySettings(device="gpu", precision=args.precision, vocoder="griffin_lim", lexicon=lexicon))
    items = read_manifest(Path("tests/data/asr_heldout/manifest.json"))
    audio = [load_audio(item["audio_filepath"], 16000) for item in items]
    references = [item["text"] for item in items]
    cpu_asr = ASRPipeline.from_export(args.exports / "quartznet", lexicon=lexicon or None)
    cpu_wer = jiwer.wer(references, [t.raw for t in cpu_asr.recognize(audio)])
    cpu_tts = TTSPipeline(Tacotron2Engine.load(args.exports / "tacotron2"), None, 250)
    lines, failures = [f"# GPU check ({args.precision})", ""], []

    log = args.output / "tritonserver.log"
    with TritonServer(repository, log_path=log, ready_timeout_s=600) as server:
        used = sorted(set(re.findall(r"(\S+\.onnx) runs on (\w+)", log.read_text())))
        lines.append("Providers: " + ", ".join(f"{graph} on {provider}" for graph, provider in used))
        if not used or any(provider == "CPUExecutionProvider" for _, provider in used):
            failures.append("a served graph is not on a GPU provider")
        served = [t.raw for t in (ASRClient(server.grpc_url).recognize(a) for a in audio)]
        gpu_wer = jiwer.wer(references, served)
        lines.append(f"Held-out WER ({len(items)} utterances): GPU {gpu_wer:.2%}, CPU {cpu_wer:.2%}")
        if gpu_wer > cpu_wer + 0.01:
            failures.append("the GPU's word error rate is more than a point above the CPU's")
        speaker = TTSClient(server.grpc_url)
        for seed, text in enumerate(CHECK_TEXTS):
            gpu, cpu = speaker.synthesize(text, seed=seed).audio, cpu_tts(text, seed=seed).audio
            if gpu.shape != cpu.shape:
                failures.append(f"TTS {text!r}: {gpu.shape[0]} samples on the GPU, {cpu.shape[0]} on the CPU")
                continue
            noise = np.sum((gpu.astype(np.float64) - cpu) ** 2)
            snr = float("inf") if noise == 0 else 10 * np.log10(np.sum(cpu.astype(np.float64) ** 2) / noise)
            lines.append(f"TTS {text!r}: SNR GPU vs CPU {snr:.1f} dB")
        data = inputs.write_all(args.output / "inputs", [5.0], 8)
        point = perf.Point("asr", data.asr[5.0], 8, audio_seconds=5.0)
        row, _ = perf.measure(server.grpc_url, point, perf.ServerStatistics(server.grpc_url,
                                                                             admin_key=server.admin_key))
        lines.append(f"perf_analyzer asr, 5 s clips, concurrency 8: RTFx {row['rtfx']}, p99 {row['p99_ms']} ms")
    lines += ["", f"Took {time.monotonic() - started:.0f} s.", *(f"FAILED: {failure}" for failure in failures)]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
