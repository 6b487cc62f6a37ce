"""TensorRT engines (``tensorrt_plan``) from the exported ONNX graphs, for the ngc target's ``--tensorrt-plans DIR``.

    python -m triton_speech.export.tensorrt --asr-export build/export/quartznet \
        --punctuator-export build/export/punctuator --output build/plans [--fp32] [builder settings...]

Each engine gets one optimization profile whose shapes come from the repository's settings: batch 1 up to
``max_batch_size``, audio from one STFT window up to ``max_audio_seconds``, features up to that many frames, token
windows up to the punctuator's ``max_seq_length``; the optimum is a mid-size batch of 5 s utterances. It needs the
``tensorrt`` package and a GPU: elsewhere it says so and exits with status 2. Engines are specific to the GPU model
and TensorRT version they are built with: build them where they are served.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from triton_speech.defaults import MAX_AUDIO_SECONDS, MAX_BATCH_SIZE, PUNCTUATION_MAX_SEQ_LENGTH
from triton_speech.runtime.asr.features import MelConfig

OPTIMUM_SECONDS = 5.0


@dataclass(frozen=True)
class Profile:
    """min / opt / max shape of each input of one graph."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def frontend_profile(config: MelConfig, max_batch_size: int = MAX_BATCH_SIZE,
                     max_audio_seconds: float = MAX_AUDIO_SECONDS) -> Profile:
    longest = int(max_audio_seconds * config.sample_rate)
    optimum_batch = max(1, max_batch_size // 2)
    return Profile({
        "audio": ((1, config.n_fft), (optimum_batch, int(OPTIMUM_SECONDS * config.sample_rate)),
                  (max_batch_size, longest)),
        "audio_length": ((1,), (optimum_batch,), (max_batch_size,)),
    })


def acoustic_profile(config: MelConfig, max_batch_size: int = MAX_BATCH_SIZE,
                     max_audio_seconds: float = MAX_AUDIO_SECONDS) -> Profile:
    def frames(seconds: float) -> int:
        return int(seconds * config.sample_rate) // config.hop_length

    optimum_batch = max(1, max_batch_size // 2)
    return Profile({
        "features": ((1, config.n_mels, 1), (optimum_batch, config.n_mels, frames(OPTIMUM_SECONDS)),
                     (max_batch_size, config.n_mels, frames(max_audio_seconds))),
        "features_length": ((1,), (optimum_batch,), (max_batch_size,)),
    })


def punctuator_profile(max_seq_length: int = PUNCTUATION_MAX_SEQ_LENGTH,
                       max_batch_size: int = MAX_BATCH_SIZE) -> Profile:
    shapes = ((1, 1), (max(1, max_batch_size // 2), max_seq_length), (max_batch_size, max_seq_length))
    return Profile({name: shapes for name in ("input_ids", "attention_mask", "token_type_ids")})


def build_engine(onnx_path: Path, plan_path: Path, profile: Profile, fp16: bool = True) -> None:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    optimization = builder.create_optimization_profile()
    for name, (low, optimum, high) in profile.shapes.items():
        optimization.set_shape(name, low, optimum, high)
    config.add_optimization_profile(optimization)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path}")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_bytes(bytes(engine))


def gpu_available() -> str | None:
    """None when TensorRT can build here, else why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed (pip install '.[gpu]' on a machine with an NVIDIA GPU)"
    try:
        import ctypes

        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
            return "no CUDA GPU is visible"
    except OSError:
        return "no NVIDIA driver (libcuda.so.1) is installed"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.export.tensorrt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asr-export", type=Path, default=Path("build/export/quartznet"))
    parser.add_argument("--punctuator-export", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=Path("build/plans"))
    parser.add_argument("--max-batch-size", type=int, default=MAX_BATCH_SIZE)
    parser.add_argument("--max-audio-seconds", type=float, default=MAX_AUDIO_SECONDS)
    parser.add_argument("--fp32", action="store_true", help="no FP16 kernels")
    args = parser.parse_args(argv)
    why_not = gpu_available()
    if why_not is not None:
        print(f"error: TensorRT engines are built on the GPU that serves them, and here {why_not}.", file=sys.stderr)
        return 2
    from triton_speech.runtime.asr.features import MelFrontend

    config = MelFrontend.load(args.asr_export / "frontend.npz").config
    jobs = [(args.asr_export / "frontend.onnx", "feature_extractor",
             frontend_profile(config, args.max_batch_size, args.max_audio_seconds)),
            (args.asr_export / "model.onnx", "quartznet",
             acoustic_profile(config, args.max_batch_size, args.max_audio_seconds))]
    if args.punctuator_export is not None:
        info = json.loads((args.punctuator_export / "export.json").read_text())
        jobs.append((args.punctuator_export / "model.onnx", "punctuator_network",
                     punctuator_profile(info.get("max_seq_length", PUNCTUATION_MAX_SEQ_LENGTH), args.max_batch_size)))
    from tqdm import tqdm

    for graph, name, profile in tqdm(jobs, desc="tensorrt engines", unit="engine"):
        build_engine(graph, args.output / f"{name}.plan", profile, fp16=not args.fp32)
    print(f"engines in {args.output}: serve them with python -m ensembles --target ngc --tensorrt-plans {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
