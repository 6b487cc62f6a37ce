"""ONNX Runtime sessions of the served graphs, on the CPU or, asked for, the GPU."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

DEVICES = ("cpu", "gpu")
log = logging.getLogger("triton_speech.onnx")


def providers_for(device: str, available: Sequence[str], engine_cache: Path | None = None) -> list:
    """The execution providers to ask ONNX Runtime for, best first: on ``gpu``, TensorRT (FP16, engines cached in
    ``engine_cache``) then CUDA, then the CPU for what they cannot run; a clear error when neither GPU provider is
    there (a GPU build asked for on a machine or runtime without one)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    chosen: list = []
    if "TensorrtExecutionProvider" in available:
        options = {"trt_fp16_enable": "True"}
        if engine_cache is not None:
            options.update(trt_engine_cache_enable="True", trt_engine_cache_path=str(engine_cache))
        chosen.append(("TensorrtExecutionProvider", options))
    if "CUDAExecutionProvider" in available:
        chosen.append("CUDAExecutionProvider")
    if not chosen:
        raise RuntimeError(f"device gpu was asked for, but this ONNX Runtime has no GPU execution provider (it has "
                           f"{', '.join(available)}): install onnxruntime-gpu (the gpu extra) on a machine with an "
                           "NVIDIA GPU, or build the repository with --device cpu")
    return [*chosen, "CPUExecutionProvider"]


def onnx_session(path: str | Path, intra_op_threads: int = 0, device: str = "cpu", spinning: bool = True):
    """A session of the graph at ``path``; on ``gpu``, TensorRT engines are cached beside it (``trt_cache/``).
    ``spinning`` False: ONNX Runtime's threads sleep as soon as a run ends instead of spinning for more work, which
    would take the cores from numpy work between runs in the same process (the streaming vocoder)."""
    import onnxruntime

    path = Path(path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = providers_for(device, onnxruntime.get_available_providers(), path.parent / "trt_cache")
    session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    if device == "gpu":
        used = session.get_providers()[0]
        if used == "CPUExecutionProvider":  # the GPU providers are installed but found no usable GPU
            raise RuntimeError(f"{path.name}: device gpu was asked for, but ONNX Runtime could not use a GPU "
                               "(no CUDA device visible?); build with --device cpu to run on the CPU")
        log.warning("%s runs on %s", path.name, used)
    return session


def static_dim(session, name: str, axis: int) -> int:
    """The fixed size of axis ``axis`` of a graph input (e.g. the mel bands a vocoder takes)."""
    for node in session.get_inputs():
        if node.name == name:
            return int(node.shape[axis])
    raise KeyError(f"graph has no input {name!r}")
