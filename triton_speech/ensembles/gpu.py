"""How the served graphs run on a GPU: which go to TensorRT (with the profile of the shapes the server lets
through), where FP16 is allowed, where engines are cached, and which graphs may leave nodes to the CPU.

- TensorRT gets the graphs whose shapes the server's limits bound: the ASR front-end, QuartzNet, the punctuator's
  BERT and WaveGlow. Tacotron2's graphs run on CUDA alone: their batch is every sentence of every request decoding
  at the time, which joins and leaves every few steps and has no useful bound, so a TensorRT profile would either
  miss shapes (an engine rebuilt while requests wait) or reserve memory for thousands of rows.
- FP16 only where the precision converts the graph (``precision.DERIVED_GRAPHS``): never the front-end's STFT,
  never Tacotron2's loop, whose rounding errors compound over thousands of steps.
- A graph may leave nodes to the CPU only where ONNX Runtime's CUDA provider puts shape computations there by
  design (a CUDA-only graph with ``Shape``/``Size`` nodes); everything else is strict (``runtime.onnx``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.export.precision import DERIVED_GRAPHS
from triton_speech.runtime.onnx import GraphOptions, Placement
from triton_speech.runtime.profiles import Profile

SHAPE_OPS = ("Shape", "Size")


def fp16(settings: RepositorySettings, model: str) -> bool:
    """FP16 kernels for ``model``'s graph: only when the precision is fp16 and it converts that graph."""
    return settings.precision == "fp16" and model in DERIVED_GRAPHS["fp16"]


def has_shape_computations(graph: Path) -> bool:
    import onnx

    return any(node.op_type in SHAPE_OPS for node in onnx.load(str(graph), load_external_data=False).graph.node)


def tensorrt(profile: Profile, half: bool) -> GraphOptions:
    return GraphOptions(tensorrt=profile, fp16=half, strict=True)


def cuda_only(graph: Path) -> GraphOptions:
    return GraphOptions(strict=not has_shape_computations(graph))


def python_parameters(settings: RepositorySettings, model: str, graphs: Mapping[str, GraphOptions]) -> dict[str, str]:
    """A python model's GPU parameters (none on the CPU): its engine cache and each graph's options, which
    ``ModelArgs.placement`` reads back with the GPU Triton gives the instance."""
    if settings.network_device != "gpu":
        return {}
    return {"engine_cache": settings.engine_cache(model),
            "gpu_graphs": Placement("gpu", graphs=dict(graphs)).graphs_parameter()}


def native(settings: RepositorySettings, model: str, graph: GraphOptions) -> dict:
    """A native model's GPU settings: TensorRT's accelerator (when asked) with the graph's profile and FP16 scope,
    in the model's own engine cache folder."""
    return dict(device="gpu", tensorrt_accelerator=settings.tensorrt_accelerator, profile=graph.tensorrt,
                fp16=graph.fp16, engine_cache=settings.engine_cache(model))
