"""The GPU repositories as a GPU would load them, checked without one: FP16 only where the precision converts the
graph (every generated config of both targets, every session the served models open), the device Triton gives an
instance, TensorRT profiles whose edges are the limits the server enforces."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import onnx
import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as pb

from tests.support.gpu import FakeGpuRuntime
from tests.support.paths import REPOSITORY_ROOT
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.gpu_stack import NGC
from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.onnx import cpu_fallback_disabled, onnx_session
from triton_speech.runtime.profiles import Profile
from triton_speech.runtime.punctuation import Punctuator

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
# What the design says (the precision module's docstring): FP16 for QuartzNet, the punctuator's BERT and WaveGlow;
# never the front-end or Tacotron2, whose graphs are not given to TensorRT at all (their batch has no bound).
FP16_AT_FP16 = {("quartznet", "model.onnx"), ("asr_streaming", "model.onnx"), ("punctuator", "model.onnx"),
                ("waveglow", "waveglow.onnx"), ("tts_streaming", "waveglow.onnx"),
                ("quartznet", "native"), ("punctuator_network", "native")}
TENSORRT_GRAPHS = {("feature_extractor", "frontend.onnx"), ("asr_streaming", "frontend.onnx"),
                   *((m, g) for m, g in FP16_AT_FP16 if g != "native")}
CUDA_ONLY = {(model, graph) for model in ("tacotron2", "tts_streaming")
             for graph in ("encoder.onnx", "decoder_step.onnx", "postnet.onnx")}
GPU_PYTHON_MODELS = ("feature_extractor", "quartznet", "punctuator", "tacotron2", "waveglow", "asr_streaming",
                     "tts_streaming")
DEVICE_ID = 1


@pytest.fixture(scope="module")
def exports(quartznet_export, punctuator_export, tacotron2_export, waveglow_export):
    return Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0],
                   waveglow=waveglow_export[0])


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def repositories(request, exports, tmp_path_factory):
    """The pip target on a GPU and the ngc target with TensorRT's accelerator, at one precision."""
    built = {}
    for target, device in (("pip", "gpu"), ("ngc", "gpu")):
        output = tmp_path_factory.mktemp(f"{target}_{request.param}")
        build(output, exports, RepositorySettings(target=target, device=device, precision=request.param,
                                                  vocoder="waveglow", tensorrt_accelerator=target == "ngc",
                                                  engine_cache_dir=str(output / "engines")))
        built[target] = output
    return request.param, built


def read_configs(repository):
    return {path.parent.name: text_format.Parse(path.read_text(), pb.ModelConfig())
            for path in sorted(repository.glob("*/config.pbtxt"))}


def test_every_generated_config_asks_for_fp16_only_where_the_precision_converts_the_graph(repositories):
    precision, built = repositories
    seen = set()
    for target, repository in built.items():
        for name, config in read_configs(repository).items():
            for accelerator in config.optimization.execution_accelerators.gpu_execution_accelerator:
                expected = "FP16" if precision == "fp16" and (name, "native") in FP16_AT_FP16 else "FP32"
                assert accelerator.parameters["precision_mode"] == expected, (target, name)
                seen.add((name, "native"))
            graphs = json.loads(config.parameters["gpu_graphs"].string_value or "{}")
            for graph, options in graphs.items():
                expected = precision == "fp16" and (name, graph) in FP16_AT_FP16
                assert options["fp16"] is expected, (target, name, graph)
                assert (options["tensorrt"] is not None) == ((name, graph) in TENSORRT_GRAPHS), (name, graph)
                seen.add((name, graph))
    assert seen >= FP16_AT_FP16 | TENSORRT_GRAPHS | CUDA_ONLY  # nothing expected was left unchecked


def test_every_served_graph_loads_in_the_containers_onnx_runtime(repositories):
    """The onnxruntime backend of the NGC container (and onnxruntime-gpu 1.20) loads ONNX IR up to 10 and opsets
    up to 21: an export or a derived FP16 graph written for a newer one would not load there."""
    _, built = repositories
    graphs = [path for repository in built.values() for path in sorted(repository.glob("*/1/*.onnx"))]
    assert len(graphs) >= 10
    for path in graphs:
        model = onnx.load(str(path), load_external_data=False)
        opset = max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
        assert model.ir_version <= NGC.max_ir_version and opset <= NGC.max_opset, (path, model.ir_version, opset)


def fake_backend_utils():
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = lambda name, value: (name, value)
    return module


def initialize(repository, name, device_id):
    """Run a served model.py's initialize() as Triton does: its config as JSON, its directory, its GPU."""
    config = text_format.Parse((repository / name / "config.pbtxt").read_text(), pb.ModelConfig())
    spec = importlib.util.spec_from_file_location(f"served_{name}", REPOSITORY_ROOT / "model_repository" / name / "1"
                                                  / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    model.initialize({"model_config": json_format.MessageToJson(config, preserving_proto_field_name=True),
                      "model_repository": str(repository / name), "model_version": "1",
                      "model_instance_kind": "GPU", "model_instance_device_id": str(device_id)})
    if hasattr(model, "finalize"):
        model.finalize()


def test_every_session_the_served_models_open_on_the_gpu(repositories, monkeypatch):
    """Provider options of every ONNX Runtime session the pip target's GPU models open at load: the instance's
    GPU, TensorRT only with a profile and FP16 only where chosen, cuDNN's heuristic search, no CPU provider,
    CPU fallback refused except for the shape computations of CUDA-only graphs that have them."""
    precision, built = repositories
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_backend_utils())
    fake = FakeGpuRuntime(monkeypatch)
    opened = set()
    for name in GPU_PYTHON_MODELS:
        first = len(fake.sessions)
        initialize(built["pip"], name, DEVICE_ID)
        for session in fake.sessions[first:]:
            graph, providers = session.path.name, dict(session.providers)
            opened.add((name, graph))
            assert CPU not in providers and session.fallback_disabled, (name, graph)
            assert providers[CUDA] == {"device_id": str(DEVICE_ID), "cudnn_conv_algo_search": "HEURISTIC"}
            if (name, graph) in TENSORRT_GRAPHS:
                trt = providers[TRT]
                assert trt["device_id"] == str(DEVICE_ID)
                assert trt["trt_fp16_enable"] == str(precision == "fp16" and (name, graph) in FP16_AT_FP16)
                assert trt["trt_engine_cache_path"] == str(built["pip"] / "engines" / name)
                assert cpu_fallback_disabled(session.options), (name, graph)
            else:
                assert TRT not in providers, (name, graph)
                # decoder_step has no shape computations: it runs thousands of times a request, all on the GPU
                assert cpu_fallback_disabled(session.options) == (graph == "decoder_step.onnx"), (name, graph)
    assert opened == TENSORRT_GRAPHS | CUDA_ONLY


def test_tensorrt_profile_edges_are_the_servers_limits(exports, tmp_path):
    """Min audio: what the request checks accept (one hop); max audio: max_audio_seconds, and the frames the real
    front-end graph gives for it; max text: the windows of the longest text the punctuator accepts; the vocoder's
    frames: what Tacotron2 may make (its max_mel_frames, the frames of max_speech_seconds)."""
    settings = RepositorySettings(target="ngc", vocoder="waveglow", tensorrt_accelerator=True, max_audio_seconds=20.0,
                                  max_punctuation_chars=3000, max_batch_size=8)
    build(tmp_path, exports, settings)
    configs = read_configs(tmp_path)

    def profile(name):
        (accelerator,) = configs[name].optimization.execution_accelerators.gpu_execution_accelerator
        return Profile.from_ort_options(accelerator.parameters)

    checks = {key: value.string_value for key, value in configs["audio_input"].parameters.items()}
    sample_rate, min_samples = int(checks["sample_rate"]), int(checks["min_samples"])
    longest = int(float(checks["max_audio_seconds"]) * sample_rate)
    frontend = profile("feature_extractor")
    assert frontend.shapes["audio"][0] == (1, min_samples) and frontend.shapes["audio"][2] == (8, longest)

    graph = OnnxMelFrontend(onnx_session(exports.asr / "frontend.onnx"), OnnxMelFrontend.load(exports.asr).config)
    widths = {}
    for samples in (min_samples, longest):
        features, _ = graph.session.run(["features", "features_length"], {
            "audio": np.zeros((1, samples), np.float32), "audio_length": np.array([samples])})
        widths[samples] = features.shape[2]
    acoustic = profile("quartznet")
    assert acoustic.shapes["features"][0][2] <= widths[min_samples]
    assert acoustic.shapes["features"][2][2] == widths[longest]  # 2001 frames for 20 s: one more than the valid 2000

    text = " ".join(["word"] * (settings.max_punctuation_chars // 5))
    shapes = []
    labels = json.loads((exports.punctuator / "labels.json").read_text())

    def record(input_ids, attention_mask, token_type_ids):
        shapes.append(input_ids.shape)
        return [np.zeros((*input_ids.shape, len(labels[head])), np.float32) for head in ("punct", "capit")]

    punctuator_parameters = {key: value.string_value for key, value in configs["punctuator"].parameters.items()}
    Punctuator.load(exports.punctuator, logits=record,
                    max_windows_per_run=int(punctuator_parameters["max_windows_per_run"]))([text] * 8)
    bert = profile("punctuator_network")
    assert len(shapes) > 1 and all(bert.admits("input_ids", shape) for shape in shapes)
    assert max(shape[1] for shape in shapes) == bert.shapes["input_ids"][2][1]  # full windows reach the maximum

    waveglow = json.loads(configs["waveglow"].parameters["gpu_graphs"].string_value)["waveglow.onnx"]
    mel = Profile.from_ort_options(waveglow["tensorrt"]).shapes["mel"]
    mel_frames = int(configs["tacotron2"].parameters["max_mel_frames"].string_value)
    assert mel[0][2] == 1 and mel[2][2] == mel_frames == int(configs["waveglow"].parameters[
        "max_mel_frames"].string_value)
