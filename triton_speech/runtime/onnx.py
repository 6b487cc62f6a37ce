"""ONNX Runtime sessions of the served graphs."""

from __future__ import annotations

from pathlib import Path


def onnx_session(path: str | Path, intra_op_threads: int = 0, spinning: bool = True):
    """``spinning`` False: ONNX Runtime's threads sleep as soon as a run ends instead of spinning for more work,
    which would take the cores from numpy work between runs in the same process (the streaming vocoder)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def static_dim(session, name: str, axis: int) -> int:
    """The fixed size of axis ``axis`` of a graph input (e.g. the mel bands a vocoder takes)."""
    for node in session.get_inputs():
        if node.name == name:
            return int(node.shape[axis])
    raise KeyError(f"graph has no input {name!r}")
