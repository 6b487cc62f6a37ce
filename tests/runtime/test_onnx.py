"""Execution providers: GPU builds ask for TensorRT, then CUDA, then the CPU; a GPU build without a GPU fails
clearly. (Fake provider lists: this machine has no GPU.)"""

from pathlib import Path

import pytest

from triton_speech.runtime.onnx import providers_for

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


def test_cpu_asks_for_the_cpu_only_even_where_gpus_are():
    assert providers_for("cpu", [TRT, CUDA, CPU]) == [CPU]


def test_gpu_asks_for_tensorrt_with_fp16_and_its_engine_cache_then_cuda_then_the_cpu(tmp_path: Path):
    providers = providers_for("gpu", [TRT, CUDA, CPU], engine_cache=tmp_path / "trt_cache")
    assert [p if isinstance(p, str) else p[0] for p in providers] == [TRT, CUDA, CPU]
    assert providers[0][1] == {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
                               "trt_engine_cache_path": str(tmp_path / "trt_cache")}


def test_gpu_without_tensorrt_asks_for_cuda():
    assert providers_for("gpu", [CUDA, CPU]) == [CUDA, CPU]


def test_gpu_asked_for_where_there_is_none_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device gpu was asked for, but this ONNX Runtime has no GPU execution "
                                           "provider .*CPUExecutionProvider.*--device cpu"):
        providers_for("gpu", [CPU])


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        providers_for("tpu", [CPU])


def test_a_gpu_session_on_this_machine_fails_at_load_not_at_the_first_request(tmp_path):
    """What a python model's initialize() meets when the repository was built for a GPU it does not have."""
    import onnx
    from onnx import TensorProto, helper

    from triton_speech.runtime.onnx import onnx_session

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "identity.onnx")
    assert onnx_session(tmp_path / "identity.onnx").run(["y"], {"x": [1.0]})[0].tolist() == [1.0]
    with pytest.raises(RuntimeError, match="device gpu was asked for"):
        onnx_session(tmp_path / "identity.onnx", device="gpu")
