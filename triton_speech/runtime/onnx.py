"""ONNX Runtime sessions of the served graphs, on the CPU or, asked for, the GPU.

On the GPU a session asks for TensorRT (only for the graphs the builder gave a TensorRT profile) and CUDA, never for
the CPU: ONNX Runtime falls back silently (a provider whose libraries do not load is dropped, nodes no GPU provider
takes run on the CPU), and a GPU deployment that runs on the CPU is slower, not broken, so nobody notices. Here a
missing CUDA, cuDNN or TensorRT library fails the load with its name, a dropped provider fails it, and
``session.disable_cpu_ep_fallback`` makes ONNX Runtime refuse a graph with nodes left to the CPU. The exception:
graphs on CUDA alone whose shape computations (``Shape`` and what only feeds shapes) ONNX Runtime places on the CPU
by design; the builder marks those (``strict`` false) and ``make gpu-check`` checks that nothing else ran there.
"""

from __future__ import annotations

import ctypes
import glob
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triton_speech.defaults import ONNX_SPINNING
from triton_speech.runtime.profiles import Profile

DEVICES = ("cpu", "gpu")
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
# The shared libraries each GPU provider of the pinned onnxruntime-gpu (a CUDA 12 build) loads, in load order (a
# library before those that need it). tests/test_gpu_stack.py checks them against what the wheel links.
CUDA_LIBRARIES = ("libcudart.so.12", "libnvrtc.so.12", "libcublasLt.so.12", "libcublas.so.12", "libcurand.so.10",
                  "libcufft.so.11", "libcudnn_graph.so.9", "libcudnn_engines_runtime_compiled.so.9",
                  "libcudnn_engines_precompiled.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9",
                  "libcudnn_cnn.so.9", "libcudnn_adv.so.9", "libcudnn.so.9")
TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10")
# cuDNN picks each convolution's algorithm by heuristics: the default (EXHAUSTIVE) benchmarks every algorithm for
# every new input shape, so each new audio length would stall its request.
CUDNN_CONV_ALGO_SEARCH = "HEURISTIC"
DISABLE_CPU_FALLBACK = "session.disable_cpu_ep_fallback"
log = logging.getLogger("triton_speech.onnx")
# make gpu-check sets a folder here: the sessions opened then profile their runs into it (ONNX Runtime's profile says
# which provider ran each node) and are listed in PROFILED as (graph file name, session, strict).
PROFILE_DIR: Path | None = None
PROFILED: list = []


@dataclass(frozen=True)
class GraphOptions:
    """How one graph runs on the GPU: under TensorRT (with this optimization profile; FP16 kernels only when
    ``fp16``) or on CUDA alone; ``strict``: no node of it may run on the CPU."""

    tensorrt: Profile | None = None
    fp16: bool = False
    strict: bool = True

    def to_json(self) -> dict:
        return {"tensorrt": None if self.tensorrt is None else self.tensorrt.ort_options(), "fp16": self.fp16,
                "strict": self.strict}

    @classmethod
    def from_json(cls, value: Mapping) -> GraphOptions:
        profile = value.get("tensorrt")
        return cls(None if profile is None else Profile.from_ort_options(profile), bool(value.get("fp16", False)),
                   bool(value.get("strict", True)))


@dataclass(frozen=True)
class Placement:
    """Where a model instance's graphs run: the device, the GPU Triton gave the instance (``device_id``), where
    TensorRT keeps its engines (``engine_cache``; empty: ``trt_cache/`` beside each graph) and, per graph file name,
    its GPU options (a graph not named runs on CUDA alone, strict)."""

    device: str = "cpu"
    device_id: int = 0
    engine_cache: str = ""
    graphs: Mapping[str, GraphOptions] = field(default_factory=dict)

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.device_id < 0:
            raise ValueError(f"device_id must be 0 or more, got {self.device_id}")

    @classmethod
    def of(cls, device: str | Placement) -> Placement:
        return device if isinstance(device, Placement) else cls(device)

    def graph(self, name: str) -> GraphOptions:
        return self.graphs.get(name, GraphOptions())

    def graphs_parameter(self) -> str:
        """The per-graph options as the config parameter ``gpu_graphs`` holds them (JSON)."""
        return json.dumps({name: options.to_json() for name, options in self.graphs.items()}, sort_keys=True)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str], device_id: int = 0) -> Placement:
        graphs = json.loads(parameters.get("gpu_graphs") or "{}")
        return cls(parameters.get("device", "cpu"), device_id, parameters.get("engine_cache", ""),
                   {name: GraphOptions.from_json(value) for name, value in graphs.items()})


def providers_for(device: str | Placement, available: Sequence[str], graph: str = "",
                  engine_cache: Path | None = None) -> list:
    """The execution providers to ask ONNX Runtime for, best first, with their options: on the CPU the CPU; on the
    GPU TensorRT (for a graph with a profile; FP16 only where chosen; engines in ``engine_cache``), then CUDA, and
    not the CPU. A clear error when the GPU providers are not there (a GPU build on a runtime without them)."""
    placement = Placement.of(device)
    if placement.device == "cpu":
        return [CPU]
    if CUDA not in available:
        raise RuntimeError(f"device gpu was asked for, but this ONNX Runtime has no GPU execution provider (it has "
                           f"{', '.join(available)}): install onnxruntime-gpu (make gpu-setup) on a machine with an "
                           "NVIDIA GPU, or build the repository with --device cpu")
    options = placement.graph(graph)
    chosen: list = []
    if options.tensorrt is not None:
        if TENSORRT not in available:
            raise RuntimeError(f"{graph}: TensorRT was asked for, but this ONNX Runtime has no TensorRT provider")
        cache = Path(placement.engine_cache) if placement.engine_cache else engine_cache
        trt = {"device_id": str(placement.device_id), "trt_fp16_enable": str(options.fp16),
               **options.tensorrt.ort_options()}
        if cache is not None:
            trt.update(trt_engine_cache_enable="True", trt_engine_cache_path=str(cache))
        chosen.append((TENSORRT, trt))
    chosen.append((CUDA, {"device_id": str(placement.device_id), "cudnn_conv_algo_search": CUDNN_CONV_ALGO_SEARCH}))
    return chosen


def library_directories() -> list[str]:
    """Where pip's CUDA, cuDNN and TensorRT wheels put their libraries (``nvidia/*/lib``, ``tensorrt_libs``)."""
    found = []
    for root in sys.path:
        found += sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib")))
        found += sorted(glob.glob(os.path.join(root, "tensorrt_libs")))
    return found


def missing_libraries(names: Sequence[str], loader: Callable[[str], object] | None = None,
                      directories: Sequence[str] | None = None) -> list[str]:
    """Load each library (by name: the system's library path; else from the pip wheels' directories) and return
    those that would not load. Loaded globally, in order, so ONNX Runtime's providers find them after."""
    loader = loader or (lambda name: ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL))
    directories = library_directories() if directories is None else directories
    missing = []
    for name in names:
        for candidate in (name, *(os.path.join(d, name) for d in directories)):
            try:
                loader(candidate)
                break
            except OSError:
                continue
        else:
            missing.append(name)
    return missing


def check_gpu_libraries(providers: Sequence, loader=None, directories=None) -> None:
    """Fail, naming them, when the libraries the chosen GPU providers need do not load."""
    names = {CUDA: CUDA_LIBRARIES, TENSORRT: (*CUDA_LIBRARIES, *TENSORRT_LIBRARIES)}
    for provider in providers:
        name = provider[0] if isinstance(provider, tuple) else provider
        missing = missing_libraries(names.get(name, ()), loader, directories)
        if missing:
            raise RuntimeError(f"device gpu: ONNX Runtime's {name} needs {', '.join(missing)}, which could not be "
                               "loaded (from the library path or pip's nvidia-*/tensorrt wheels): install the GPU "
                               "packages (make gpu-setup) or serve from the NGC container")


def session_options(onnxruntime, intra_op_threads: int, spinning: bool, strict: bool):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if strict:
        options.add_session_config_entry(DISABLE_CPU_FALLBACK, "1")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def cpu_fallback_disabled(options) -> bool:
    """Whether ``options`` (a SessionOptions) make ONNX Runtime refuse nodes left to the CPU."""
    try:
        return options.get_session_config_entry(DISABLE_CPU_FALLBACK) == "1"
    except RuntimeError:  # never set
        return False


def onnx_session(path: str | Path, intra_op_threads: int = 0, device: str | Placement = "cpu",
                 spinning: bool = ONNX_SPINNING):
    """A session of the graph at ``path`` on ``device`` (a device name or a model instance's ``Placement``).
    ``spinning`` False (``defaults.ONNX_SPINNING``): ONNX Runtime's threads sleep as soon as a run ends instead of
    spinning for more work, which would take the cores from the other served models' processes and from numpy work
    between runs in the same process (the streaming vocoder)."""
    import onnxruntime

    path = Path(path)
    placement = Placement.of(device)
    gpu = placement.device == "gpu"
    providers = providers_for(placement, onnxruntime.get_available_providers(), path.name, path.parent / "trt_cache")
    if gpu:
        if hasattr(onnxruntime, "preload_dlls"):  # ONNX Runtime 1.21+: loads pip's CUDA and cuDNN wheels itself
            onnxruntime.preload_dlls(directory="")
        check_gpu_libraries(providers)
        for _, provider_options in providers:  # TensorRT creates only the last folder of its cache path
            if "trt_engine_cache_path" in provider_options:
                Path(provider_options["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
    strict = gpu and placement.graph(path.name).strict
    options = session_options(onnxruntime, intra_op_threads, spinning, strict)
    if PROFILE_DIR is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(PROFILE_DIR) / path.stem)
    session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    if PROFILE_DIR is not None:
        PROFILED.append((path.name, session, strict))
    if gpu:
        session.disable_fallback()  # no silent retry on the CPU when a GPU run fails
        asked = [name for name, _ in providers]
        dropped = [name for name in asked if name not in session.get_providers()]
        if dropped:
            raise RuntimeError(f"{path.name}: ONNX Runtime could not start {', '.join(dropped)} (no CUDA device "
                               f"visible, or a driver too old for CUDA 12?); it offered "
                               f"{', '.join(session.get_providers())}; build with --device cpu to run on the CPU")
        log.warning("%s runs on %s (device %d)", path.name, " + ".join(asked), placement.device_id)
    return session


def static_dim(session, name: str, axis: int) -> int:
    """The fixed size of axis ``axis`` of a graph input (e.g. the mel bands a vocoder takes)."""
    for node in session.get_inputs():
        if node.name == name:
            return int(node.shape[axis])
    raise KeyError(f"graph has no input {name!r}")
