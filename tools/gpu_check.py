"""make gpu-check: on a machine with an NVIDIA GPU, prove the GPU path: the networks run on the GPU, the answers
match the CPU's, within a time budget.

    python tools/gpu_check.py [--precision fp32|fp16] [--output build/gpu_check] [--budget-minutes 8]
    python tools/gpu_check.py --server 127.0.0.1:8001 --repository ngc_repository --server-log triton.log

Needs the exports (make export) and the GPU packages (make gpu-setup). Without ``--server`` it builds the pip target
with ``--device gpu`` and serves it; with ``--server`` it checks a server already running that repository (the NGC
container, docs/deploy-gpu.md). Checks, each a failure when it does not hold:
- placement, in-process: the GPU repository's graphs opened as its models open them (the same providers, profiles,
  device and no-fallback settings) run the held-out audio and the TTS texts with ONNX Runtime's profiler on, and
  every node ran on TensorRT or CUDA; only the shape computations of the graphs marked non-strict may run on the CPU;
- placement, served: every GPU graph of the repository says in the server log which providers it got, and none got
  the CPU; models on the GPU have GPU instances;
- transcripts of the held-out test set, served on the GPU vs the CPU pipeline: word error rates within
  ``--max-wer-increase`` (a point);
- TTS of three sentences, served on the GPU vs the CPU pipeline: lengths within ``--max-length-difference`` (5%)
  and SNR on their common length at least ``--min-snr-db`` (20 dB): the decoder loop's float rounding differs
  between GPU and CPU kernels (TF32 included), so the gate may fire a frame apart;
- perf_analyzer RTFx of the asr ensemble on 5 s clips at concurrency 8 (reported).
The whole check stops at ``--budget-minutes`` (default 8): it writes what it has, marks the budget failed, stops the
server and exits 3. Writes ``report.md`` in the output folder; exits 1 when a check fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHECK_TEXTS = ["The train to London leaves at seven thirty in the evening.", "Please call Emma on Friday.",
               "It costs four dollars and fifty cents."]
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# What ONNX Runtime's CUDA provider places on the CPU by design: shape computations (Shape, and the integer ops that
# only feed shapes), which a non-strict graph may leave there; anything else on the CPU fails the check.
SHAPE_COMPUTATION_OPS = {"Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Range",
                         "ConstantOfShape", "ReduceProd", "Reshape", "Add", "Sub", "Mul", "Div", "Equal", "Where",
                         "Expand", "NonZero", "Less", "Greater", "Max", "Min"}
BUDGET_EXIT = 3


class BudgetExceeded(RuntimeError):
    pass


class Budget:
    """The check's time limit: ``check()`` between steps raises once it is spent, and a timer stops everything at the
    limit even inside a step that hangs (``on_expire``: write the report, stop the server, exit)."""

    def __init__(self, seconds: float, on_expire: Callable[[], None], clock=time.monotonic):
        self.seconds, self.clock, self.started = seconds, clock, clock()
        self.timer = threading.Timer(seconds, on_expire)
        self.timer.daemon = True

    def __enter__(self) -> Budget:
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def check(self, step: str) -> None:
        if self.elapsed > self.seconds:
            raise BudgetExceeded(f"over the {self.seconds:.0f} s budget before {step} ({self.elapsed:.0f} s)")


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """SNR (dB) of ``other`` against ``reference`` over their common length."""
    n = min(len(reference), len(other))
    reference, other = reference[:n].astype(np.float64), other[:n].astype(np.float64)
    noise = np.sum((other - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference ** 2) / max(noise, 1e-30)))


def compare_speech(text: str, gpu: np.ndarray, cpu: np.ndarray, min_snr_db: float,
                   max_length_difference: float) -> tuple[str, list[str]]:
    """A report line and the failures of one TTS comparison."""
    difference = abs(len(gpu) - len(cpu)) / max(len(cpu), 1)
    snr = snr_db(cpu, gpu)
    line = (f"TTS {text!r}: {len(gpu)} samples on the GPU, {len(cpu)} on the CPU ({difference:.1%}); SNR "
            f"{snr:.1f} dB (bound {min_snr_db:g} dB)")
    failures = []
    if difference > max_length_difference:
        failures.append(f"TTS {text!r}: lengths differ by {difference:.1%} (bound {max_length_difference:.0%})")
    if not snr >= min_snr_db:
        failures.append(f"TTS {text!r}: SNR {snr:.1f} dB below {min_snr_db:g} dB")
    return line, failures


def node_placement_failures(graph: str, events: Iterable[dict], strict: bool) -> list[str]:
    """From an ONNX Runtime profile: the nodes of ``graph`` that ran on the CPU and should not have (any, when
    strict; other than shape computations otherwise). A profile with no node at all proves nothing: a failure."""
    nodes = [event for event in events if event.get("cat") == "Node" and "provider" in event.get("args", {})]
    if not nodes:
        return [f"{graph}: the profile recorded no node (did it run?)"]
    failures = []
    for event in nodes:
        provider, op = event["args"]["provider"], event["args"].get("op_name", "?")
        if provider in GPU_PROVIDERS:
            continue
        if strict or op not in SHAPE_COMPUTATION_OPS:
            failures.append(f"{graph}: node {event.get('name', '?')} ({op}) ran on {provider}")
    return sorted(set(failures))


SERVED = re.compile(r"(\S+\.onnx) runs on (\S+(?: \+ \S+)*) \(device (\d+)\)")


def served_placement_failures(log: str, expected: Sequence[str]) -> tuple[list[str], list[str]]:
    """From the server log (the python models' sessions say where they run): report lines, and failures for a GPU
    graph with no such line or with the CPU among its providers."""
    seen: dict[str, set[str]] = {}
    for graph, providers, device in SERVED.findall(log):
        seen.setdefault(graph, set()).add(f"{providers} (device {device})")
    lines = [f"served {graph}: {', '.join(sorted(seen[graph]))}" for graph in sorted(seen)]
    failures = [f"served {graph}: no session reported its providers" for graph in expected if graph not in seen]
    failures += [f"served {graph}: {where}" for graph, places in seen.items() for where in places
                 if "CPUExecutionProvider" in where]
    return lines, failures


def gpu_graphs(repository: Path) -> dict[str, dict]:
    """Python models of a repository that run on the GPU -> their parameters (device, engine_cache, gpu_graphs)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    found = {}
    for path in sorted(Path(repository).glob("*/config.pbtxt")):
        config = text_format.Parse(path.read_text(), pb.ModelConfig())
        parameters = {key: value.string_value for key, value in config.parameters.items()}
        if parameters.get("device") == "gpu":
            found[config.name] = parameters
    return found


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exports", type=Path, default=Path("build/export"))
    parser.add_argument("--lexicon", type=Path, default=Path("defaults/quartznet_small.lexicon.txt"))
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--output", type=Path, default=Path("build/gpu_check"))
    parser.add_argument("--server", default="", help="gRPC address of a server already serving --repository")
    parser.add_argument("--repository", type=Path, default=None, help="the repository --server serves")
    parser.add_argument("--server-log", type=Path, default=None, help="that server's log (docker logs)")
    parser.add_argument("--budget-minutes", type=float, default=8.0)
    parser.add_argument("--min-snr-db", type=float, default=20.0)
    parser.add_argument("--max-length-difference", type=float, default=0.05)
    parser.add_argument("--max-wer-increase", type=float, default=0.01)
    args = parser.parse_args(argv)
    if args.server and (args.repository is None or args.server_log is None):
        parser.error("--server needs the --repository it serves and its --server-log")
    if not args.server and (args.repository is not None or args.server_log is not None):
        parser.error("--repository and --server-log go with --server (without it the check builds and serves its own)")
    if args.budget_minutes <= 0:
        parser.error("--budget-minutes must be positive")
    return args


def profiled_placement(repository: Path, audio: list, lexicon: str) -> tuple[list[str], list[str]]:
    """Run the repository's GPU graphs (its files: FP16 ones at fp16) in-process as its models open them, profiled;
    report lines and failures."""
    from triton_speech.runtime import onnx as ort
    from triton_speech.runtime.asr.pipeline import ASRPipeline
    from triton_speech.runtime.onnx import Placement
    from triton_speech.runtime.punctuation import Punctuator
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine
    from triton_speech.runtime.tts.waveglow import WaveGlowEngine

    models = gpu_graphs(repository)
    placement = {name: Placement.from_parameters(parameters) for name, parameters in models.items()}
    ort.PROFILE_DIR = Path(repository).parent / "profiles"
    ort.PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        files = {name: Path(repository) / name / "1" for name in models}
        asr = ASRPipeline.from_export(files["asr_streaming"], lexicon=lexicon or None,
                                      device=placement["asr_streaming"])
        asr.recognize(audio[:8])
        Punctuator.load(files["punctuator"], device=placement["punctuator"], max_windows_per_run=int(
            models["punctuator"]["max_windows_per_run"]))(["hello there how are you " * 40])
        waveglow = (WaveGlowEngine.load(files["waveglow"], device=placement["waveglow"])
                    if "waveglow" in placement else None)
        tts = TTSPipeline(Tacotron2Engine.load(files["tacotron2"], device=placement["tacotron2"]), waveglow, 250)
        tts(CHECK_TEXTS[0])
        lines, failures = [], []
        for graph, session, strict in ort.PROFILED:
            events = json.loads(Path(session.end_profiling()).read_text())
            nodes = [e for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})]
            providers = sorted({e["args"]["provider"] for e in nodes})
            lines.append(f"in-process {graph}: {len(nodes)} node runs on {', '.join(providers)}"
                         f"{'' if strict else ' (shape computations may run on the CPU)'}")
            failures += node_placement_failures(graph, events, strict)
        return lines, failures
    finally:
        ort.PROFILE_DIR, ort.PROFILED[:] = None, []


def run(args: argparse.Namespace, budget: Budget, lines: list[str], failures: list[str], stop: list) -> None:
    import jiwer

    from triton_speech.benchmarks import inputs, perf
    from triton_speech.client import ASRClient, TTSClient
    from triton_speech.client.audio import load_audio
    from triton_speech.corpus.manifest import read_manifest
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.runtime.asr.pipeline import ASRPipeline
    from triton_speech.runtime.onnx import CUDA, TENSORRT, check_gpu_libraries
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine
    from triton_speech.server import TritonServer

    lexicon = str(args.lexicon) if args.lexicon.exists() else ""
    items = read_manifest(Path("tests/data/asr_heldout/manifest.json"))
    audio = [load_audio(item["audio_filepath"], 16000) for item in items]
    references = [item["text"] for item in items]
    server = None
    if args.server:
        repository = args.repository
    else:
        check_gpu_libraries([CUDA, TENSORRT])  # names what make gpu-setup did not install
        repository = args.output / "repository"
        waveglow = args.exports / "waveglow"
        vocoder = "waveglow" if (waveglow / "export.json").exists() else "griffin_lim"
        build(repository, Exports(asr=args.exports / "quartznet", punctuator=args.exports / "punctuator",
                                  tacotron2=args.exports / "tacotron2", waveglow=waveglow),
              RepositorySettings(device="gpu", precision=args.precision, vocoder=vocoder, lexicon=lexicon))
        budget.check("the in-process placement check")
        placed, misplaced = profiled_placement(repository, audio, lexicon)
        lines += placed
        failures += misplaced
    budget.check("the CPU references")
    cpu_asr = ASRPipeline.from_export(args.exports / "quartznet", lexicon=lexicon or None)
    cpu_wer = jiwer.wer(references, [t.raw for t in cpu_asr.recognize(audio)])
    cpu_tts = TTSPipeline(Tacotron2Engine.load(args.exports / "tacotron2"), None, 250)
    budget.check("serving")
    if args.server:
        url = args.server
    else:
        server = TritonServer(repository, log_path=args.output / "tritonserver.log", ready_timeout_s=600).start()
        stop.append(server.stop)
        url = server.grpc_url
    served_log = args.server_log if args.server else args.output / "tritonserver.log"
    expected = sorted({graph for parameters in gpu_graphs(repository).values()
                       for graph in json.loads(parameters.get("gpu_graphs") or "{}")})
    placed, misplaced = served_placement_failures(Path(served_log).read_text(errors="replace"), expected)
    lines += placed
    failures += misplaced
    served = [t.raw for t in (ASRClient(url).recognize(a) for a in audio)]
    gpu_wer = jiwer.wer(references, served)
    lines.append(f"Held-out WER ({len(items)} utterances): GPU {gpu_wer:.2%}, CPU {cpu_wer:.2%}")
    if gpu_wer > cpu_wer + args.max_wer_increase:
        failures.append(f"the GPU's word error rate is more than {args.max_wer_increase:.0%} above the CPU's")
    budget.check("TTS")
    speaker = TTSClient(url)
    for seed, text in enumerate(CHECK_TEXTS):
        line, problems = compare_speech(text, speaker.synthesize(text, seed=seed).audio, cpu_tts(text, seed=seed).audio,
                                        args.min_snr_db, args.max_length_difference)
        lines.append(line)
        failures += problems
    budget.check("perf_analyzer")
    data = inputs.write_all(args.output / "inputs", [5.0], 8)
    point = perf.Point("asr", data.asr[5.0], 8, audio_seconds=5.0)
    admin_key = server.admin_key if server is not None else os.environ.get("TRITON_ADMIN_KEY", "")
    row, _ = perf.measure(url, point, perf.ServerStatistics(url, admin_key=admin_key))
    lines.append(f"perf_analyzer asr, 5 s clips, concurrency 8: RTFx {row['rtfx']}, p99 {row['p99_ms']} ms")


def write_report(args, lines, failures, elapsed: float) -> str:
    text = "\n".join([f"# GPU check ({args.precision}{', ' + args.server if args.server else ''})", "", *lines, "",
                      f"Took {elapsed:.0f} s (budget {args.budget_minutes:g} min).",
                      *(f"FAILED: {failure}" for failure in failures)]) + "\n"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "report.md").write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    lines: list[str] = []
    failures: list[str] = []
    stop: list[Callable[[], None]] = []
    started = time.monotonic()

    def expire():
        failures.append(f"over the {args.budget_minutes:g} minute budget: stopped")
        print(write_report(args, lines, failures, time.monotonic() - started))
        for action in stop:
            action()
        os._exit(BUDGET_EXIT)

    with Budget(args.budget_minutes * 60, expire) as budget:
        try:
            run(args, budget, lines, failures, stop)
        except BudgetExceeded as error:
            failures.append(str(error))
        finally:
            for action in stop:
                action()
    print(write_report(args, lines, failures, time.monotonic() - started))
    if any("budget" in failure for failure in failures):
        return BUDGET_EXIT
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
