"""make gpu-check's parts that need no GPU: its arguments, the TTS comparison by SNR, the time budget, and the
placement logic that must fail a CPU fallback (profiles and server logs as ONNX Runtime and the served models write
them)."""

from __future__ import annotations

import importlib.util
import json
import re
import threading

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from tests.support.paths import REPOSITORY_ROOT


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPOSITORY_ROOT / "tools" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_build_and_serve_their_own_repository_within_8_minutes(gpu_check):
    args = gpu_check.parse_args([])
    assert args.server == "" and args.budget_minutes == 8.0 and args.min_snr_db == 20.0


@pytest.mark.parametrize("argv, message", [
    (["--server", "127.0.0.1:8001"], "--server needs the --repository"),
    (["--repository", "ngc_repository"], "go with --server"),
    (["--budget-minutes", "0"], "must be positive"),
    (["--precision", "int8"], "invalid choice"),
])
def test_bad_arguments_exit_2_naming_the_problem(gpu_check, argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        gpu_check.parse_args(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_the_ngc_runbook_checks_a_running_server(gpu_check, tmp_path):
    args = gpu_check.parse_args(["--server", "127.0.0.1:8001", "--repository", str(tmp_path), "--server-log",
                                 str(tmp_path / "triton.log")])
    assert args.server == "127.0.0.1:8001" and args.repository == tmp_path


def test_speech_is_compared_by_snr_on_the_common_length_not_by_identical_lengths(gpu_check):
    rng = np.random.default_rng(0)
    cpu = rng.normal(size=22050).astype(np.float32)
    # a frame of audio (256 samples) longer, and noise 30 dB down: passes a 20 dB bound
    gpu = np.concatenate([cpu + rng.normal(scale=10 ** (-30 / 20), size=cpu.shape), np.zeros(256)]).astype(np.float32)
    line, failures = gpu_check.compare_speech("t", gpu, cpu, min_snr_db=20.0, max_length_difference=0.05)
    assert failures == [] and re.search(r"SNR (29\.\d|30\.\d) dB", line)
    # noise 10 dB down fails the bound, by name
    noisy = (cpu + rng.normal(scale=10 ** (-10 / 20), size=cpu.shape)).astype(np.float32)
    _, failures = gpu_check.compare_speech("t", noisy, cpu, 20.0, 0.05)
    assert len(failures) == 1 and "below 20 dB" in failures[0]
    # half the speech missing fails on length even where the common part agrees
    _, failures = gpu_check.compare_speech("t", cpu[:11025], cpu, 20.0, 0.05)
    assert len(failures) == 1 and "lengths differ by 50.0%" in failures[0]


def test_the_budget_stops_between_steps_and_stops_a_hung_step(gpu_check):
    now = [0.0]
    fired = threading.Event()
    with gpu_check.Budget(10.0, fired.set, clock=lambda: now[0]) as budget:
        budget.check("a step")
        now[0] = 10.5
        with pytest.raises(gpu_check.BudgetExceeded, match="over the 10 s budget before TTS"):
            budget.check("TTS")
    hung = threading.Event()
    with gpu_check.Budget(0.2, hung.set):
        assert hung.wait(5.0)  # the timer fires while the step never returns
    quiet = threading.Event()
    with gpu_check.Budget(0.2, quiet.set):
        pass
    assert not quiet.wait(0.5)  # a check that ends in time is not stopped afterwards


def profile_of(graph: onnx.ModelProto, tmp_path, **feeds) -> list[dict]:
    """A real ONNX Runtime profile (this machine runs it on the CPU provider)."""
    path = tmp_path / "g.onnx"
    onnx.save(graph, path)
    options = onnxruntime.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, feeds)
    with open(session.end_profiling()) as profile:
        return json.load(profile)


def graph_with_shape_ops():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Relu", ["r"], ["y"])]
    return helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])]), opset_imports=[helper.make_opsetid("", 17)])


def test_a_graph_that_ran_on_the_cpu_provider_fails_the_placement_check(gpu_check, tmp_path):
    events = profile_of(graph_with_shape_ops(), tmp_path, x=np.ones(4, np.float32))
    failures = gpu_check.node_placement_failures("g.onnx", events, strict=True)
    assert failures and all("ran on CPUExecutionProvider" in failure for failure in failures)
    # non-strict: shape computations may stay on the CPU, the compute (Relu) may not
    failures = gpu_check.node_placement_failures("g.onnx", events, strict=False)
    assert failures and all("(Relu)" in failure for failure in failures)


def test_nodes_on_gpu_providers_pass_and_an_empty_profile_proves_nothing(gpu_check, tmp_path):
    events = profile_of(graph_with_shape_ops(), tmp_path, x=np.ones(4, np.float32))
    on_gpu = [dict(e, args={**e["args"], "provider": "CUDAExecutionProvider"}) if "provider" in e.get("args", {})
              else e for e in events]
    assert gpu_check.node_placement_failures("g.onnx", on_gpu, strict=True) == []
    assert gpu_check.node_placement_failures("g.onnx", [], strict=True) == ["g.onnx: the profile recorded no node "
                                                                            "(did it run?)"]


def test_the_server_log_must_show_every_gpu_graph_on_gpu_providers(gpu_check):
    log = ("frontend.onnx runs on TensorrtExecutionProvider + CUDAExecutionProvider (device 0)\n"
           "model.onnx runs on TensorrtExecutionProvider + CUDAExecutionProvider (device 1)\n"
           "encoder.onnx runs on CPUExecutionProvider (device 0)\n")
    lines, failures = gpu_check.served_placement_failures(log, ["frontend.onnx", "model.onnx", "encoder.onnx",
                                                                "postnet.onnx"])
    assert "served model.onnx: TensorrtExecutionProvider + CUDAExecutionProvider (device 1)" in lines
    assert failures == ["served postnet.onnx: no session reported its providers",
                        "served encoder.onnx: CPUExecutionProvider (device 0)"]


def test_the_session_log_line_is_what_the_check_reads(gpu_check, monkeypatch, tmp_path, caplog):
    """The line the served models' sessions log (runtime.onnx) parses as the check expects."""
    from tests.support.gpu import FakeGpuRuntime
    from triton_speech.runtime.onnx import GraphOptions, Placement, onnx_session
    from triton_speech.runtime.profiles import Profile

    FakeGpuRuntime(monkeypatch)
    path = tmp_path / "g.onnx"
    onnx.save(graph_with_shape_ops(), path)
    with caplog.at_level("WARNING", logger="triton_speech.onnx"):
        onnx_session(path, device=Placement("gpu", 2, graphs={"g.onnx": GraphOptions(Profile(
            {"x": ((1,), (2,), (4,))}))}))
    lines, failures = gpu_check.served_placement_failures(caplog.text, ["g.onnx"])
    assert failures == [] and lines == ["served g.onnx: TensorrtExecutionProvider + CUDAExecutionProvider (device 2)"]
