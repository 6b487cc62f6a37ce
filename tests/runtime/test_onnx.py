"""Execution providers and GPU sessions: TensorRT only for graphs with a profile (FP16 only where chosen), CUDA with
the instance's device id and cuDNN's heuristic search, never the CPU; missing libraries named; CPU fallback refused.
(Fake provider lists and library loaders: this machine has no GPU and this onnxruntime has no GPU provider.)"""

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.support.gpu import FakeGpuRuntime
from triton_speech.runtime.backend import ModelArgs
from triton_speech.runtime.onnx import (
    CUDA_LIBRARIES,
    TENSORRT_LIBRARIES,
    GraphOptions,
    Placement,
    check_gpu_libraries,
    cpu_fallback_disabled,
    missing_libraries,
    onnx_session,
    providers_for,
)
from triton_speech.runtime.profiles import Profile

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
PROFILE = Profile({"x": ((1, 1), (4, 8), (16, 64))})


def test_cpu_asks_for_the_cpu_only_even_where_gpus_are():
    assert providers_for("cpu", [TRT, CUDA, CPU]) == [CPU]


def test_gpu_asks_for_tensorrt_with_the_graphs_profile_then_cuda_and_never_the_cpu(tmp_path: Path):
    placement = Placement("gpu", device_id=3, graphs={"g.onnx": GraphOptions(tensorrt=PROFILE, fp16=True)})
    providers = providers_for(placement, [TRT, CUDA, CPU], "g.onnx", engine_cache=tmp_path / "trt_cache")
    assert [name for name, _ in providers] == [TRT, CUDA]
    assert providers[0][1] == {
        "device_id": "3", "trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(tmp_path / "trt_cache"), "trt_profile_min_shapes": "x:1x1",
        "trt_profile_opt_shapes": "x:4x8", "trt_profile_max_shapes": "x:16x64"}
    assert providers[1][1] == {"device_id": "3", "cudnn_conv_algo_search": "HEURISTIC"}


def test_fp16_is_off_unless_the_graph_chose_it_and_the_placements_cache_wins():
    placement = Placement("gpu", engine_cache="/cache/quartznet", graphs={"g.onnx": GraphOptions(tensorrt=PROFILE)})
    (_, trt), _ = providers_for(placement, [TRT, CUDA, CPU], "g.onnx", engine_cache=Path("/elsewhere"))
    assert trt["trt_fp16_enable"] == "False" and trt["trt_engine_cache_path"] == "/cache/quartznet"


def test_a_graph_without_a_profile_runs_on_cuda_alone():
    assert [name for name, _ in providers_for(Placement("gpu"), [TRT, CUDA, CPU], "decoder_step.onnx")] == [CUDA]


def test_gpu_asked_for_where_there_is_none_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device gpu was asked for, but this ONNX Runtime has no GPU execution "
                                           "provider .*CPUExecutionProvider.*--device cpu"):
        providers_for("gpu", [CPU])


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        providers_for("tpu", [CPU])


def test_placement_round_trips_through_the_config_parameters_with_tritons_device_id():
    placement = Placement("gpu", engine_cache="/c/m", graphs={
        "a.onnx": GraphOptions(tensorrt=PROFILE, fp16=True), "b.onnx": GraphOptions(strict=False)})
    parameters = {"device": "gpu", "engine_cache": "/c/m", "gpu_graphs": placement.graphs_parameter()}
    config = {"name": "m", "parameters": {key: {"string_value": value} for key, value in parameters.items()}}
    import json

    args = {"model_config": json.dumps(config), "model_repository": "/r/m", "model_version": "1",
            "model_instance_device_id": "2"}
    assert ModelArgs(args).placement() == Placement("gpu", 2, "/c/m", placement.graphs)
    assert ModelArgs({**args, "model_instance_device_id": "0"}).placement().device_id == 0
    cpu_args = {**args, "model_config": json.dumps({"name": "m", "parameters": {}})}
    assert ModelArgs(cpu_args).placement().device == "cpu"


def loader_without(absent: set[str], loaded: list[str]):
    def load(name: str):
        if Path(name).name in absent:
            raise OSError(f"{name}: cannot open shared object file")
        loaded.append(name)
    return load


def test_missing_libraries_are_looked_for_by_name_then_in_the_pip_wheels_directories(tmp_path):
    loaded = []
    assert missing_libraries(["libcudart.so.12"], loader_without(set(), loaded), [str(tmp_path)]) == []
    assert loaded == ["libcudart.so.12"]

    tried = []

    def only_in_the_wheel(name):
        tried.append(name)
        if name != str(tmp_path / "libcudnn.so.9"):
            raise OSError(name)

    assert missing_libraries(["libcudnn.so.9"], only_in_the_wheel, [str(tmp_path)]) == []
    assert tried == ["libcudnn.so.9", str(tmp_path / "libcudnn.so.9")]


def test_the_error_names_the_missing_library_of_the_provider_that_needs_it():
    providers = [(TRT, {}), (CUDA, {})]
    with pytest.raises(RuntimeError, match=r"TensorrtExecutionProvider needs libnvinfer\.so\.10, which could not be "
                                           r"loaded .*make gpu-setup"):
        check_gpu_libraries(providers, loader_without({"libnvinfer.so.10"}, []), [])
    with pytest.raises(RuntimeError, match=r"CUDAExecutionProvider needs libcudnn\.so\.9,"):
        check_gpu_libraries([(CUDA, {})], loader_without({"libcudnn.so.9"}, []), [])
    check_gpu_libraries([(CUDA, {})], loader_without(set(TENSORRT_LIBRARIES), []), [])  # CUDA needs no TensorRT
    check_gpu_libraries([CPU], loader_without(set(CUDA_LIBRARIES), []), [])


def identity_graph(path: Path, with_shape: bool = False) -> Path:
    nodes = [helper.make_node("Identity", ["x"], ["y"])]
    if with_shape:
        nodes.append(helper.make_node("Shape", ["x"], ["s"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])]
    if with_shape:
        outputs.append(helper.make_tensor_value_info("s", TensorProto.INT64, [1]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])], outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_gpu_session_refuses_cpu_fallback_and_python_retries(monkeypatch, tmp_path):
    fake = FakeGpuRuntime(monkeypatch)
    graph = identity_graph(tmp_path / "g.onnx")
    placement = Placement("gpu", 1, str(tmp_path / "cache" / "m"), {"g.onnx": GraphOptions(tensorrt=Profile(
        {"x": ((1,), (4,), (8,))}))})
    session = onnx_session(graph, device=placement)
    (made,) = fake.sessions
    assert cpu_fallback_disabled(made.options)
    assert made.fallback_disabled and CPU not in [name for name, _ in made.providers]
    assert (tmp_path / "cache" / "m").is_dir()  # the engine cache exists before TensorRT looks for it
    assert session.run(["y"], {"x": [1.0, 2.0]})[0].tolist() == [1.0, 2.0]


def test_a_cuda_graph_with_shape_computations_may_leave_them_to_the_cpu(monkeypatch, tmp_path):
    fake = FakeGpuRuntime(monkeypatch)
    graph = identity_graph(tmp_path / "g.onnx", with_shape=True)
    onnx_session(graph, device=Placement("gpu", graphs={"g.onnx": GraphOptions(strict=False)}))
    assert not cpu_fallback_disabled(fake.sessions[0].options)


def test_a_gpu_provider_onnx_runtime_dropped_fails_the_load_by_name(monkeypatch, tmp_path):
    FakeGpuRuntime(monkeypatch, dropping=(CUDA,))
    with pytest.raises(RuntimeError, match="g.onnx: ONNX Runtime could not start CUDAExecutionProvider"):
        onnx_session(identity_graph(tmp_path / "g.onnx"), device="gpu")


def test_missing_cuda_libraries_fail_before_onnx_runtime_falls_back(monkeypatch, tmp_path):
    fake = FakeGpuRuntime(monkeypatch, missing=("libcublasLt.so.12",))
    with pytest.raises(RuntimeError, match=r"CUDAExecutionProvider needs libcublasLt\.so\.12"):
        onnx_session(identity_graph(tmp_path / "g.onnx"), device="gpu")
    assert fake.sessions == []


def test_a_gpu_session_on_this_machine_fails_at_load_not_at_the_first_request(tmp_path):
    """What a python model's initialize() meets when the repository was built for a GPU it does not have."""
    graph = identity_graph(tmp_path / "identity.onnx")
    assert onnx_session(graph).run(["y"], {"x": [1.0]})[0].tolist() == [1.0]
    with pytest.raises(RuntimeError, match="device gpu was asked for"):
        onnx_session(graph, device="gpu")
