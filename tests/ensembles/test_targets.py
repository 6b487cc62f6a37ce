"""Builder targets: the ngc repository (native onnxruntime_onnx models on the GPU, python models for the rest)
validated against ModelConfig, its ensemble wiring and its ONNX graphs; the pip target on a GPU; precision."""

from __future__ import annotations

import shutil

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from triton_speech.ensembles.builder import Exports, build, describe
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import ConfigError, NativeModel, PythonModel, validate_graph
from triton_speech.runtime.profiles import Profile


@pytest.fixture(scope="module")
def exports(quartznet_export, punctuator_export, tacotron2_export):
    return Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0])


def configs(exports, **settings):
    return {entry.name: entry for entry in describe(exports, RepositorySettings(vocoder="griffin_lim", **settings))}


def test_ngc_serves_every_asr_network_natively_on_the_gpu(exports, tmp_path):
    names = build(tmp_path, exports, RepositorySettings(vocoder="griffin_lim", target="ngc"))
    described = configs(exports, target="ngc")
    native = {name for name, entry in described.items() if isinstance(entry, NativeModel)}
    assert native == {"feature_extractor", "quartznet", "punctuator_network"}
    for name in native:
        config = described[name].config()
        assert config.platform == "onnxruntime_onnx" and config.backend == ""
        assert config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_GPU
        assert (tmp_path / name / "1" / "model.onnx").is_file() and not (tmp_path / name / "1" / "model.py").exists()
    # What has no native form stays python: checks, CTC decoding, tokenizing/labelling, text, the decoder loop.
    assert {n for n, e in described.items() if isinstance(e, PythonModel)} == {
        "audio_input", "ctc_decoder", "punctuator", "text_normalizer", "tacotron2", "griffin_lim", "asr_long",
        "asr_streaming", "tts_streaming"}
    assert described["punctuator"].settings.network == "punctuator_network"
    assert [step.model for step in described["asr"].steps] == [
        "audio_input", "feature_extractor", "quartznet", "ctc_decoder", "punctuator"]
    assert set(names) == set(described)


def test_ngc_length_tensors_are_reshaped_to_the_graphs_batch_vectors(exports):
    config = configs(exports, target="ngc")["quartznet"].config()
    length = next(t for t in config.input if t.name == "features_length")
    assert list(length.dims) == [1] and length.HasField("reshape") and list(length.reshape.shape) == []


def test_tensorrt_accelerator_and_plans_are_options(exports, tmp_path):
    accelerated = configs(exports, target="ngc", tensorrt_accelerator=True)["quartznet"].config()
    (accelerator,) = accelerated.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP32"
    assert accelerator.parameters["trt_engine_cache_enable"] == "true"
    plans = configs(exports, target="ngc", tensorrt_plans=str(tmp_path))
    assert plans["quartznet"].config().platform == "tensorrt_plan"
    assert plans["quartznet"].artifacts == {"model.plan": tmp_path / "quartznet.plan"}
    # every plan python -m export tensorrt builds is served, the punctuator's included
    assert plans["punctuator_network"].artifacts == {"model.plan": tmp_path / "punctuator_network.plan"}


def test_engine_caches_are_one_folder_per_model_under_a_configurable_persistent_path(exports, monkeypatch):
    def cache(**settings):
        accelerator = configs(exports, target="ngc", tensorrt_accelerator=True, **settings)["quartznet"].config()
        return accelerator.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters[
            "trt_engine_cache_path"]

    assert cache() == "/engine_cache/quartznet"  # a volume of the container, not /tmp
    assert cache(engine_cache_dir="/mnt/engines/") == "/mnt/engines/quartznet"
    monkeypatch.setenv("TRITON_SPEECH_ENGINE_CACHE", "/chart/volume")
    assert cache() == "/chart/volume/quartznet"
    pip = configs(exports, device="gpu", engine_cache_dir="/srv/engines")
    assert pip["punctuator"].parameters["engine_cache"] == "/srv/engines/punctuator"


def test_native_models_warm_up_with_real_values_within_their_profiles(exports, tmp_path):
    build(tmp_path, exports, RepositorySettings(vocoder="griffin_lim", target="ngc", tensorrt_accelerator=True))
    for name in ("feature_extractor", "quartznet", "punctuator_network"):
        config = text_format.Parse((tmp_path / name / "config.pbtxt").read_text(), pb.ModelConfig())
        (sample,) = config.model_warmup
        (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        profile = Profile.from_ort_options(accelerator.parameters)
        for tensor, spec in sample.inputs.items():
            assert (tmp_path / name / "warmup" / spec.input_data_file).stat().st_size > 0
            if tensor in profile.shapes and len(spec.dims) + 1 == len(profile.shapes[tensor][0]):
                assert profile.admits(tensor, (1, *spec.dims)), (name, tensor, list(spec.dims))
    features = text_format.Parse((tmp_path / "quartznet" / "config.pbtxt").read_text(), pb.ModelConfig())
    assert features.parameters["cudnn_conv_algo_search"].string_value == "1"  # HEURISTIC in Triton 24.10's terms


def renamed_input(source, target, old: str, new: str):
    model = onnx.load(str(source))
    for value in model.graph.input:
        if value.name == old:
            value.name = new
    for node in model.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
    onnx.save(model, str(target))


def test_a_graph_whose_input_name_differs_fails_validation(exports, tmp_path):
    model = configs(exports, target="ngc")["feature_extractor"]
    renamed_input(model.graph, tmp_path / "frontend.onnx", "audio_length", "lengths")
    with pytest.raises(ConfigError, match=r"graph inputs \['lengths'\] are not declared"):
        validate_graph(NativeModel(**{**model.__dict__, "graph": tmp_path / "frontend.onnx"}))


def test_a_graph_whose_dimension_differs_fails_validation(exports, tmp_path):
    model = configs(exports, target="ngc")["quartznet"]
    changed = onnx.load(str(model.graph))
    changed.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 80  # 80 mel bands where the config says 64
    onnx.save(changed, str(tmp_path / "model.onnx"))
    with pytest.raises(ConfigError, match="features axis 1 is 64 here but 80 in the graph"):
        validate_graph(NativeModel(**{**model.__dict__, "graph": tmp_path / "model.onnx"}))


def test_a_graph_whose_data_type_differs_fails_validation(exports, tmp_path):
    model = configs(exports, target="ngc")["quartznet"]
    changed = onnx.load(str(model.graph))
    changed.graph.input[1].type.tensor_type.elem_type = onnx.TensorProto.INT32
    onnx.save(changed, str(tmp_path / "model.onnx"))
    with pytest.raises(ConfigError, match="features_length is ONNX type 6 in the graph, declared INT64"):
        validate_graph(NativeModel(**{**model.__dict__, "graph": tmp_path / "model.onnx"}))


def test_the_builder_refuses_a_repository_whose_graph_does_not_match(exports, tmp_path):
    broken = tmp_path / "asr_export"
    shutil.copytree(exports.asr, broken)
    renamed_input(broken / "model.onnx", broken / "model.onnx", "features", "feats")
    with pytest.raises(ConfigError, match="quartznet"):
        build(tmp_path / "repo", Exports(asr=broken), RepositorySettings(target="ngc"))
    assert not (tmp_path / "repo" / "quartznet" / "config.pbtxt").exists()


def test_pip_on_a_gpu_puts_the_networks_on_gpu_instances(exports):
    described = configs(exports, device="gpu")
    on_gpu = {name for name, entry in described.items() if isinstance(entry, PythonModel) and entry.device == "gpu"}
    assert on_gpu == {"feature_extractor", "quartznet", "punctuator", "tacotron2", "asr_streaming", "tts_streaming"}
    for name, entry in described.items():
        if isinstance(entry, PythonModel):
            config = entry.config()
            expected = pb.ModelInstanceGroup.KIND_GPU if name in on_gpu else pb.ModelInstanceGroup.KIND_CPU
            assert config.instance_group[0].kind == expected
            assert config.parameters["device"].string_value == ("gpu" if name in on_gpu else "cpu")


@pytest.mark.parametrize("settings, message", [
    (dict(target="k8s"), "--target must be one of pip, ngc"),
    (dict(precision="int4"), "--precision must be one of fp32, fp16, int8"),
    (dict(device="tpu"), "--device must be one of cpu, gpu"),
    (dict(target="ngc", precision="int8"), "int8 is for CPUs"),
    (dict(target="ngc", device="gpu", precision="int8"), "non-zero .*zero points, which TensorRT rejects"),
    (dict(device="gpu", precision="int8"), "non-zero .*zero points, which TensorRT rejects"),
])
def test_invalid_targets_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RepositorySettings(**settings)
