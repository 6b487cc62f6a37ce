"""TensorRT engines (``tensorrt_plan``) from the exported ONNX graphs, for the ngc target's ``--tensorrt-plans DIR``.

    python -m triton_speech.export.tensorrt --asr-export build/export/quartznet \
        --punctuator-export build/export/punctuator --output build/plans [--fp32] [builder settings...]

Each engine gets one optimization profile: the shapes the served repository lets through, from the same settings
(``triton_speech.runtime.profiles``): batch 1 up to ``max_batch_size``, audio from one hop (the shortest audio the
request checks accept) to ``max_audio_seconds``, features up to the frames the front-end gives for that, token
windows up to the punctuator's ``max_seq_length``. QuartzNet and the punctuator get FP16 kernels (``--fp32``: none);
the front-end stays FP32. It needs the ``tensorrt`` package and a GPU: elsewhere it says so and exits with status 2.
Engines are specific to the GPU model and TensorRT version they are built with: build them where they are served.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from triton_speech.defaults import MAX_AUDIO_SECONDS, MAX_BATCH_SIZE, PUNCTUATION_MAX_SEQ_LENGTH
from triton_speech.runtime.asr.features import MelConfig
from triton_speech.runtime.profiles import Profile, acoustic_profile, frontend_profile, punctuator_profile

# Which engines may use FP16 kernels (the graphs --precision fp16 converts; never the front-end's STFT)
FP16_ENGINES = ("quartznet", "punctuator_network")


def engine_profiles(config: MelConfig, max_batch_size: int = MAX_BATCH_SIZE,
                    max_audio_seconds: float = MAX_AUDIO_SECONDS,
                    max_seq_length: int | None = None) -> dict[str, Profile]:
    """Engine name -> its profile (the punctuator's when ``max_seq_length`` is given)."""
    profiles = {
        "feature_extractor": frontend_profile(config.sample_rate, config.hop_length, max_batch_size, max_audio_seconds),
        "quartznet": acoustic_profile(config.sample_rate, config.hop_length, config.n_mels, max_batch_size,
                                      max_audio_seconds),
    }
    if max_seq_length is not None:
        profiles["punctuator_network"] = punctuator_profile(max_seq_length, max_batch_size)
    return profiles


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
    parser.add_argument("--fp32", action="store_true", help="no FP16 kernels (the front-end never has them)")
    args = parser.parse_args(argv)
    why_not = gpu_available()
    if why_not is not None:
        print(f"error: TensorRT engines are built on the GPU that serves them, and here {why_not}.", file=sys.stderr)
        return 2
    from triton_speech.runtime.asr.features import MelFrontend

    config = MelFrontend.load(args.asr_export / "frontend.npz").config
    graphs = {"feature_extractor": args.asr_export / "frontend.onnx", "quartznet": args.asr_export / "model.onnx"}
    max_seq_length = None
    if args.punctuator_export is not None:
        info = json.loads((args.punctuator_export / "export.json").read_text())
        max_seq_length = int(info.get("max_seq_length", PUNCTUATION_MAX_SEQ_LENGTH))
        graphs["punctuator_network"] = args.punctuator_export / "model.onnx"
    profiles = engine_profiles(config, args.max_batch_size, args.max_audio_seconds, max_seq_length)
    from tqdm import tqdm

    for name in tqdm(graphs, desc="tensorrt engines", unit="engine"):
        build_engine(graphs[name], args.output / f"{name}.plan", profiles[name],
                     fp16=not args.fp32 and name in FP16_ENGINES)
    print(f"engines in {args.output}: serve them with python -m ensembles --target ngc --tensorrt-plans {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
