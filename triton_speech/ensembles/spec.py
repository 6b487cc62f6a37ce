"""Descriptions of Triton models and ensembles, turned into validated ``ModelConfig`` protobufs.

Every ``config.pbtxt`` in the repository is generated from one of these descriptions; the protobuf
class is Triton's own (``tritonclient.grpc.model_config_pb2``), so a misspelt field or a wrong type
fails here, before a server ever sees it. ``validate_repository`` adds the checks the protobuf cannot
express: ensemble steps that name real models and tensors, matching data types and batch limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from triton_speech import defaults
from triton_speech.runtime.model_settings import ModelSettings
from triton_speech.runtime.onnx import CUDNN_CONV_ALGO_SEARCH
from triton_speech.runtime.profiles import Profile

# Triton calls variable-length strings BYTES on the wire and TYPE_STRING in configs.
DATA_TYPES = {
    "BOOL": pb.TYPE_BOOL,
    "INT32": pb.TYPE_INT32,
    "INT64": pb.TYPE_INT64,
    "UINT64": pb.TYPE_UINT64,
    "FP16": pb.TYPE_FP16,
    "FP32": pb.TYPE_FP32,
    "BYTES": pb.TYPE_STRING,
}


INSTANCE_KINDS = {"cpu": pb.ModelInstanceGroup.KIND_CPU, "gpu": pb.ModelInstanceGroup.KIND_GPU}
# ONNX element types (onnx.TensorProto) of the data types above.
ONNX_TYPES = {"BOOL": 9, "INT32": 6, "INT64": 7, "FP16": 10, "FP32": 1, "BYTES": 8}
# numpy dtypes of the data types a warm-up sample can hold (BYTES: Python bytes in an object array)
NUMPY_TYPES = {"BOOL": np.bool_, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16, "FP32": np.float32,
               "BYTES": np.object_}
# Where Triton looks for a warm-up sample's input_data_file: this folder of the model's directory.
WARMUP_DIR = "warmup"
# The onnxruntime backend's cudnn_conv_algo_search parameter: the index of ONNX Runtime's option value
CUDNN_CONV_ALGO_SEARCH_VALUES = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")


class ConfigError(ValueError):
    """A description that would not give a loadable, consistent Triton repository."""


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    dims: tuple[int, ...]
    optional: bool = False
    # A native model's graph tensor of shape [batch] is declared [1] and reshaped to [] (Triton's ``reshape``).
    reshape: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.dtype not in DATA_TYPES:
            raise ConfigError(f"tensor {self.name}: unknown data type {self.dtype}")
        if not self.dims or any(d == 0 or d < -1 for d in self.dims):
            raise ConfigError(f"tensor {self.name}: dims must be positive or -1, got {self.dims}")


@dataclass(frozen=True)
class Batching:
    """Dynamic-batching settings of one model (settings of the builder, not of the model)."""

    max_batch_size: int = defaults.MAX_BATCH_SIZE
    max_queue_delay_us: int = defaults.MAX_QUEUE_DELAY_US
    preferred_batch_sizes: tuple[int, ...] = ()
    instance_count: int = 1

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ConfigError("max_batch_size must be at least 1")
        if self.instance_count < 1:
            raise ConfigError("instance_count must be at least 1")
        if any(not 1 <= size <= self.max_batch_size for size in self.preferred_batch_sizes):
            raise ConfigError(f"preferred batch sizes {self.preferred_batch_sizes} exceed {self.max_batch_size}")


@dataclass(frozen=True)
class WarmupSample:
    """One request Triton sends a model before it reports the model ready (``model_warmup``): real input values
    (one row, no batch dimension), written to files the config names, so the model's own input checks pass."""

    name: str
    inputs: Mapping[str, np.ndarray]

    def files(self, model: str) -> dict[str, bytes]:
        """File name (inside the model's ``warmup`` folder) -> raw contents, as Triton reads them: little-endian
        values in row-major order; BYTES elements each as a 4-byte little-endian length and the bytes."""
        return {self.file(model, name): _raw(value) for name, value in self.inputs.items()}

    def file(self, model: str, tensor: str) -> str:
        return f"{model}.{self.name}.{tensor}"


def _raw(value: np.ndarray) -> bytes:
    if value.dtype == np.object_:
        items = [item if isinstance(item, bytes) else str(item).encode("utf-8") for item in value.reshape(-1)]
        return b"".join(len(item).to_bytes(4, "little") + item for item in items)
    return np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()


@dataclass(frozen=True)
class SequenceBatching:
    """Triton's sequence batcher, oldest-first: the requests of a sequence (a stream) reach the model in order,
    at most one per batch, with the control inputs START, END, READY (INT32 0/1) and CORRID (UINT64, the
    sequence id); batches mix sequences. A sequence that sends nothing for ``idle_us`` is freed (its next
    request without START is refused). The model keeps each sequence's state itself (python models have no
    implicit state), so it has one instance."""

    idle_us: int
    max_candidate_sequences: int
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()

    CONTROLS = (("START", pb.ModelSequenceBatching.Control.CONTROL_SEQUENCE_START),
                ("END", pb.ModelSequenceBatching.Control.CONTROL_SEQUENCE_END),
                ("READY", pb.ModelSequenceBatching.Control.CONTROL_SEQUENCE_READY))

    def __post_init__(self):
        if self.idle_us < 1:
            raise ConfigError("the sequence idle time must be positive")
        if self.max_candidate_sequences < 1:
            raise ConfigError("max_candidate_sequences must be at least 1")
        if self.max_queue_delay_us < 0:
            raise ConfigError("the sequence batcher's queue delay cannot be negative")

    def fill(self, config: pb.ModelConfig) -> None:
        sequence = config.sequence_batching
        sequence.max_sequence_idle_microseconds = self.idle_us
        sequence.oldest.max_candidate_sequences = self.max_candidate_sequences
        sequence.oldest.max_queue_delay_microseconds = self.max_queue_delay_us
        sequence.oldest.preferred_batch_size.extend(self.preferred_batch_sizes)
        for name, kind in self.CONTROLS:
            sequence.control_input.add(name=name).control.add(kind=kind, int32_false_true=[0, 1])
        sequence.control_input.add(name="CORRID").control.add(
            kind=pb.ModelSequenceBatching.Control.CONTROL_SEQUENCE_CORRID, data_type=pb.TYPE_UINT64)


@dataclass(frozen=True)
class PythonModel:
    """A python-backend model: ``model_repository/<name>/1/model.py`` plus the files it loads."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    batching: Batching
    # What the model.py reads back (runtime.model_settings); ``parameters``: others beside them (where it runs)
    settings: ModelSettings | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    # file name inside the version directory -> where the builder copies it from
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    device: str = "cpu"  # "gpu": GPU instances, and the model's ONNX Runtime sessions ask for GPU providers
    # Instead of the dynamic batcher: a stateful model's sequence batcher
    sequence_batching: SequenceBatching | None = None
    # Decoupled (model_transaction_policy): any number of responses per request, the last one marked final.
    decoupled: bool = False
    # Requests run before the model is reported ready, so that the first client request finds it warm.
    warmup: tuple[WarmupSample, ...] = ()

    def __post_init__(self):
        # A sequence model may have several instances: Triton's sequence batcher gives each instance its own batch
        # slots and keeps a sequence on the instance whose slot took its START, so each process sees all of the
        # streams it serves (tests/integration/test_streaming.py streams through two).
        if self.sequence_batching is not None:
            if any(size > self.batching.max_batch_size for size in self.sequence_batching.preferred_batch_sizes):
                raise ConfigError(f"{self.name}: preferred batch sizes exceed {self.batching.max_batch_size}")
        if self.settings is not None:
            twice = sorted(set(self.settings.parameters()) & {*self.parameters, "device"})
            if twice:
                raise ConfigError(f"{self.name}: parameters {twice} are settings of the model already")
        check_warmup(self.name, self.inputs, self.warmup)

    def warmup_files(self) -> dict[str, bytes]:
        return warmup_files(self.name, self.warmup)

    def config(self) -> pb.ModelConfig:
        config = pb.ModelConfig(name=self.name, backend="python", max_batch_size=self.batching.max_batch_size)
        inputs_by_name = {tensor.name: tensor for tensor in self.inputs}
        for tensor in self.inputs:
            # Ragged: requests of different lengths may share a batch; model.py pads them itself.
            config.input.add(
                name=tensor.name,
                data_type=DATA_TYPES[tensor.dtype],
                dims=list(tensor.dims),
                optional=tensor.optional,
                allow_ragged_batch=-1 in tensor.dims,
            )
        for tensor in self.outputs:
            config.output.add(name=tensor.name, data_type=DATA_TYPES[tensor.dtype], dims=list(tensor.dims))
        if self.sequence_batching is not None:
            self.sequence_batching.fill(config)
        else:
            config.dynamic_batching.max_queue_delay_microseconds = self.batching.max_queue_delay_us
            config.dynamic_batching.preferred_batch_size.extend(self.batching.preferred_batch_sizes)
        config.instance_group.add(count=self.batching.instance_count, kind=INSTANCE_KINDS[self.device])
        written = self.settings.parameters() if self.settings is not None else {}
        for key, value in {**written, **self.parameters, "device": self.device}.items():
            config.parameters[key].string_value = str(value)
        if self.decoupled:
            config.model_transaction_policy.decoupled = True
        add_warmup(config, self.warmup, inputs_by_name)
        return config


def check_warmup(model: str, inputs: tuple[Tensor, ...], samples: tuple[WarmupSample, ...]) -> None:
    """Warm-up samples that the model's own checks (or a native backend) take: every required input, the declared
    data types and shapes, finite values."""
    by_name = {tensor.name: tensor for tensor in inputs}
    names = [sample.name for sample in samples]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"model {model}: warm-up samples need distinct, non-empty names, got {names}")
    for sample in samples:
        where = f"model {model}: warm-up sample {sample.name}"
        missing = [t.name for t in inputs if not t.optional and t.name not in sample.inputs]
        if missing:
            raise ConfigError(f"{where} lacks required inputs {missing}")
        for name, value in sample.inputs.items():
            tensor = by_name.get(name)
            if tensor is None:
                raise ConfigError(f"{where}: the model has no input {name}")
            if np.dtype(value.dtype) != np.dtype(NUMPY_TYPES[tensor.dtype]):
                raise ConfigError(f"{where}: {name} is {value.dtype}, the input is {tensor.dtype}")
            if value.ndim != len(tensor.dims) or any(d not in (-1, n) for d, n in zip(tensor.dims, value.shape)):
                raise ConfigError(f"{where}: {name} has shape {list(value.shape)}, the input dims are "
                                  f"{list(tensor.dims)} (one row, without the batch dimension)")
            if value.size == 0 or (value.dtype.kind == "f" and not np.isfinite(value).all()):
                raise ConfigError(f"{where}: {name} must be finite and not empty")


def warmup_files(model: str, samples: tuple[WarmupSample, ...]) -> dict[str, bytes]:
    return {name: data for sample in samples for name, data in sample.files(model).items()}


def add_warmup(config: pb.ModelConfig, samples: tuple[WarmupSample, ...], inputs: Mapping[str, Tensor]) -> None:
    for sample in samples:
        warmup = config.model_warmup.add(name=sample.name, batch_size=1)
        for name, value in sample.inputs.items():
            warmup.inputs[name].data_type = DATA_TYPES[inputs[name].dtype]
            warmup.inputs[name].dims.extend(value.shape)
            warmup.inputs[name].input_data_file = sample.file(config.name, name)


@dataclass(frozen=True)
class NativeModel:
    """A network served by one of Triton's native backends (the NGC container has them; the pip server does not):
    ``onnxruntime_onnx`` serving ``graph`` (an ONNX file), or ``tensorrt_plan`` serving ``plan`` (an engine built
    from that graph by ``python -m export tensorrt``). Tensor names are the graph's; the declared inputs and outputs
    are checked against the graph file (``validate_graph``)."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    batching: Batching
    graph: Path
    plan: Path | None = None
    device: str = "gpu"
    # ONNX Runtime's TensorRT execution accelerator (onnxruntime_onnx only): engines built for ``profile`` (the
    # shapes the server lets through) and cached in ``engine_cache`` (this model's folder); FP16 kernels only when
    # ``fp16`` (the graphs the chosen precision converts)
    tensorrt_accelerator: bool = False
    profile: Profile | None = None
    fp16: bool = False
    engine_cache: str = ""
    # Requests Triton runs before it reports the model ready (TensorRT builds or loads its engine, CUDA its kernels)
    warmup: tuple[WarmupSample, ...] = ()

    def __post_init__(self):
        check_warmup(self.name, self.inputs, self.warmup)
        if self.tensorrt_accelerator and self.plan is None and (self.profile is None or not self.engine_cache):
            raise ConfigError(f"{self.name}: the TensorRT accelerator needs an optimization profile and an engine "
                              "cache folder")

    @property
    def artifacts(self) -> dict[str, Path]:
        return {"model.plan": self.plan} if self.plan is not None else {"model.onnx": self.graph}

    def warmup_files(self) -> dict[str, bytes]:
        return warmup_files(self.name, self.warmup)

    def config(self) -> pb.ModelConfig:
        platform = "tensorrt_plan" if self.plan is not None else "onnxruntime_onnx"
        config = pb.ModelConfig(name=self.name, platform=platform, max_batch_size=self.batching.max_batch_size)
        for tensors, entries in ((self.inputs, config.input), (self.outputs, config.output)):
            for tensor in tensors:
                entry = entries.add(name=tensor.name, data_type=DATA_TYPES[tensor.dtype], dims=list(tensor.dims))
                if tensor.reshape is not None:
                    entry.reshape.SetInParent()  # an empty reshape ([batch] graph tensors) must still be written
                    entry.reshape.shape.extend(tensor.reshape)
        config.dynamic_batching.max_queue_delay_microseconds = self.batching.max_queue_delay_us
        config.dynamic_batching.preferred_batch_size.extend(self.batching.preferred_batch_sizes)
        config.instance_group.add(count=self.batching.instance_count, kind=INSTANCE_KINDS[self.device])
        if self.plan is None and self.device == "gpu":
            # ONNX Runtime's CUDA provider (here, or under TensorRT for what TensorRT leaves): cuDNN's heuristic
            # algorithm choice, not a benchmark of every convolution at each new audio length (Triton 24.10 reads
            # this key, 1 = HEURISTIC; without it, EXHAUSTIVE)
            config.parameters["cudnn_conv_algo_search"].string_value = str(CUDNN_CONV_ALGO_SEARCH_VALUES.index(
                CUDNN_CONV_ALGO_SEARCH))
        if self.tensorrt_accelerator and self.plan is None:
            accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
            accelerator.parameters.update({"precision_mode": "FP16" if self.fp16 else "FP32",
                                           "trt_engine_cache_enable": "true",
                                           "trt_engine_cache_path": self.engine_cache,
                                           **self.profile.ort_options()})
        add_warmup(config, self.warmup, {tensor.name: tensor for tensor in self.inputs})
        return config


@dataclass(frozen=True)
class Step:
    """One ensemble step: ``inputs``/``outputs`` map the model's tensor names to ensemble tensor names."""

    model: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]


@dataclass(frozen=True)
class Ensemble:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    steps: tuple[Step, ...]
    max_batch_size: int

    def config(self) -> pb.ModelConfig:
        config = pb.ModelConfig(name=self.name, platform="ensemble", max_batch_size=self.max_batch_size)
        for tensor in self.inputs:
            config.input.add(
                name=tensor.name, data_type=DATA_TYPES[tensor.dtype], dims=list(tensor.dims), optional=tensor.optional
            )
        for tensor in self.outputs:
            config.output.add(name=tensor.name, data_type=DATA_TYPES[tensor.dtype], dims=list(tensor.dims))
        for step in self.steps:
            added = config.ensemble_scheduling.step.add(model_name=step.model, model_version=-1)
            added.input_map.update(step.inputs)
            added.output_map.update(step.outputs)
        return config


def read_export(export_dir: Path, model: str = "quartznet") -> dict:
    """The metadata `python -m export MODEL` writes beside its artifacts."""
    info_path = Path(export_dir) / "export.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{info_path} not found: run `python -m export {model}` (or `make export`)")
    info = json.loads(info_path.read_text())
    if info.get("model") != model:
        raise FileNotFoundError(f"{info_path} describes {info.get('model')!r}, not {model}")
    return info


GENERATED_HEADER = ("# Generated by `python -m ensembles` from the descriptions in triton_speech/ensembles/: "
                    "edit those, not this.\n")


def to_text(config: pb.ModelConfig) -> str:
    """Serialize, and prove the text parses back into the same ``ModelConfig``."""
    text = GENERATED_HEADER + text_format.MessageToString(config)
    parsed = text_format.Parse(text, pb.ModelConfig())
    if parsed != config:
        raise ConfigError(f"{config.name}: config does not round-trip through ModelConfig")
    return text


def validate_repository(configs: Iterable[pb.ModelConfig]) -> None:
    """Check that the configs form a repository Triton can load and whose ensembles connect."""
    by_name: dict[str, pb.ModelConfig] = {}
    for config in configs:
        if config.name in by_name:
            raise ConfigError(f"two models are named {config.name}")
        if not config.name:
            raise ConfigError("a model has no name")
        by_name[config.name] = config
        to_text(config)
    for config in by_name.values():
        if config.platform == "ensemble":
            _validate_ensemble(config, by_name)


def _validate_ensemble(ensemble: pb.ModelConfig, models: Mapping[str, pb.ModelConfig]) -> None:
    where = f"ensemble {ensemble.name}"
    # dtype of every ensemble tensor known so far, starting from the ensemble's inputs
    available = {t.name: t.data_type for t in ensemble.input}
    optional = {t.name for t in ensemble.input if t.optional}
    produced: set[str] = set()
    ensemble_outputs = {t.name for t in ensemble.output}
    decoupled_before = None
    steps = ensemble.ensemble_scheduling.step
    for index, step in enumerate(steps):
        model = models.get(step.model_name)
        if model is None:
            raise ConfigError(f"{where}: step {index} uses unknown model {step.model_name}")
        if decoupled_before and sum(group.count for group in model.instance_group) > 1:
            # Measured on Triton 2.51: a second instance after a decoupled step reorders its responses.
            raise ConfigError(f"{where}: {model.name} follows decoupled {decoupled_before} and must have one instance")
        if model.model_transaction_policy.decoupled:
            decoupled_before = model.name
        if model.HasField("sequence_batching"):
            # Measured on Triton 2.51: with two instances of an earlier step, chunks reached the sequence model out
            # of order and END came early.
            several = [s.model_name for s in steps[:index] if s.model_name in models
                       and sum(group.count for group in models[s.model_name].instance_group) > 1]
            if several:
                raise ConfigError(f"{where}: {several} before sequence model {model.name} must have one instance")
        if model.max_batch_size < ensemble.max_batch_size:
            raise ConfigError(
                f"{where}: max_batch_size {ensemble.max_batch_size} exceeds {model.name}'s {model.max_batch_size}"
            )
        model_inputs = {t.name: t for t in model.input}
        model_outputs = {t.name: t for t in model.output}
        for model_input, tensor in step.input_map.items():
            if tensor in ensemble_outputs:
                # Triton 2.51 deadlocks ("at least one output is not set") on requests that ask for only
                # some outputs when a step reads an ensemble output; route such tensors separately.
                raise ConfigError(f"{where}: {model.name} reads ensemble output {tensor}")
            if model_input not in model_inputs:
                raise ConfigError(f"{where}: {model.name} has no input {model_input}")
            if tensor not in available:
                raise ConfigError(f"{where}: {model.name}.{model_input} reads {tensor}, which no earlier step makes")
            if available[tensor] != model_inputs[model_input].data_type:
                raise ConfigError(f"{where}: {tensor} and {model.name}.{model_input} have different data types")
            if tensor in optional and not model_inputs[model_input].optional:
                raise ConfigError(f"{where}: optional {tensor} feeds required input {model.name}.{model_input}")
        missing = [t.name for t in model.input if not t.optional and t.name not in step.input_map]
        if missing:
            raise ConfigError(f"{where}: required inputs {missing} of {model.name} are not mapped")
        for model_output, tensor in step.output_map.items():
            if model_output not in model_outputs:
                raise ConfigError(f"{where}: {model.name} has no output {model_output}")
            if tensor in available or tensor in produced:
                raise ConfigError(f"{where}: tensor {tensor} is produced twice")
            produced.add(tensor)
            available[tensor] = model_outputs[model_output].data_type
    for output in ensemble.output:
        if output.name not in produced:
            raise ConfigError(f"{where}: output {output.name} is produced by no step")
        if available[output.name] != output.data_type:
            raise ConfigError(f"{where}: output {output.name} has the wrong data type")


def graph_signature(path: Path) -> dict[str, tuple[int, list]]:
    """{tensor name: (ONNX element type, [dim size or None for a dynamic dim])} of a graph's inputs and outputs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return {value.name: (value.type.tensor_type.elem_type,
                         [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim])
            for value in [*graph.input, *graph.output]}


def validate_graph(model: NativeModel) -> None:
    """Every declared tensor of ``model`` is in its graph with the same name, data type and shape (the batch axis,
    when the model batches, and every ``-1`` must be dynamic in the graph; fixed sizes must agree), and every graph
    input is declared."""
    where = f"{model.name} ({Path(model.graph).name})"
    signature = graph_signature(model.graph)
    graph_inputs = set(signature) - {t.name for t in model.outputs}
    missing = graph_inputs - {t.name for t in model.inputs}
    if missing:
        raise ConfigError(f"{where}: graph inputs {sorted(missing)} are not declared")
    for tensor in (*model.inputs, *model.outputs):
        if tensor.name not in signature:
            raise ConfigError(f"{where}: the graph has no tensor {tensor.name}")
        elem_type, graph_dims = signature[tensor.name]
        if elem_type != ONNX_TYPES[tensor.dtype]:
            raise ConfigError(f"{where}: {tensor.name} is ONNX type {elem_type} in the graph, declared {tensor.dtype}")
        declared = [-1] * (model.batching.max_batch_size > 0) + list(tensor.reshape if tensor.reshape is not None
                                                                     else tensor.dims)
        if len(declared) != len(graph_dims):
            raise ConfigError(f"{where}: {tensor.name} has rank {len(graph_dims)} in the graph, declared "
                              f"{len(declared)} (batch axis included)")
        for axis, (size, graph_size) in enumerate(zip(declared, graph_dims)):
            if size == -1 and graph_size is not None:
                raise ConfigError(f"{where}: {tensor.name} axis {axis} is dynamic here but {graph_size} in the graph")
            if size != -1 and graph_size is not None and size != graph_size:
                raise ConfigError(f"{where}: {tensor.name} axis {axis} is {size} here but {graph_size} in the graph")
