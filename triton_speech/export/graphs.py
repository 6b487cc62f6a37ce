"""Writing and describing ONNX graphs: what every export shares."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

OPSET = 17


def export_graph(module: torch.nn.Module, example: tuple, path: Path, inputs, outputs, dynamic_axes: dict,
            metadata: dict | None = None) -> None:
    # The exporter restores the wrapper's training flag on everything inside it: a wrapper left in
    # training mode would switch the model's BatchNorm layers to training.
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # Both are about shapes fixed at trace time that are not: pad_packed_sequence's total_length is the
        # input's own width, and the LSTM gets no initial state whose batch size could have been frozen.
        warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size other than 1", UserWarning)
        torch.onnx.export(module, example, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    if metadata:
        model = onnx.load(str(path))
        onnx.helper.set_model_props(model, {key: str(value) for key, value in metadata.items()})
        onnx.save(model, str(path))


class MethodGraph(torch.nn.Module):
    """One method of a model as ``forward``, for the exporter; the graph's inputs are the method's arguments."""

    def __init__(self, model: torch.nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, *inputs):
        return getattr(self.model, self.method)(*inputs)


def graph_signature(path: Path) -> dict:
    """{"inputs"/"outputs": {name: [dim or axis name, ...]}} of an ONNX file."""
    graph = onnx.load(str(path), load_external_data=False).graph

    def shapes(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    return {"inputs": shapes(graph.input), "outputs": shapes(graph.output)}


def max_abs(reference: torch.Tensor, ours: np.ndarray) -> float:
    if tuple(reference.shape) != ours.shape:
        raise AssertionError(f"ONNX output shape {ours.shape} differs from PyTorch {tuple(reference.shape)}")
    return float(np.abs(reference.numpy().astype(np.float64) - ours).max(initial=0.0))
