"""The server launcher: ports from the environment, readiness, clean SIGTERM, no /dev/shm leftovers, the admin key
file, refusing ports in use."""

from __future__ import annotations

import glob
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.server.launcher import command, environment
from tests.support.ports import free_ports
from triton_speech.server import Ports, ServerError, TritonServer

pytestmark = pytest.mark.server


def test_ports_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRITON_HTTP_PORT", "9100")
    monkeypatch.setenv("TRITON_GRPC_PORT", "9101")
    monkeypatch.setenv("TRITON_METRICS_PORT", "9102")
    assert Ports.from_env() == Ports(9100, 9101, 9102)
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text('name: "m"\n')
    command = TritonServer(tmp_path).command()
    assert {"--http-port=9100", "--grpc-port=9101", "--metrics-port=9102"} <= set(command)
    assert "--http-address=127.0.0.1" in command


def test_only_built_models_are_loaded(tmp_path):
    """model_repository/ holds every model.py, built or not: a directory without config.pbtxt is not loaded."""
    for name, built in (("built", True), ("source_only", False)):
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "1" / "model.py").write_text("")
        if built:
            (tmp_path / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    command = TritonServer(tmp_path).command()
    assert "--model-control-mode=explicit" in command
    assert [arg for arg in command if arg.startswith("--load-model")] == ["--load-model=built"]
    (tmp_path / "built" / "config.pbtxt").unlink()
    with pytest.raises(ServerError, match="no config.pbtxt: run `make repository`"):
        TritonServer(tmp_path).command()


def test_missing_repository_is_a_clear_error(tmp_path):
    with pytest.raises(ServerError, match="does not exist"):
        TritonServer(tmp_path / "nowhere", ports=free_ports()).start()


def test_broken_repository_reports_the_server_log(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\n')
    with pytest.raises(ServerError, match="exited with code"):
        TritonServer(tmp_path, ports=free_ports(), ready_timeout_s=60).start()


def shm_prefix_of_server_on(http_port: int) -> str:
    """The python backend's shared-memory prefix of the tritonserver listening on ``http_port`` (from its
    arguments): other servers running beside this test have regions of their own."""
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(cmdline, "rb").read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if f"--http-port={http_port}" in argv:
            config = next(arg for arg in argv if "shm-region-prefix-name=" in arg)
            return config.split("shm-region-prefix-name=", 1)[1]
    raise AssertionError(f"no tritonserver listens on port {http_port}")


def test_serve_command_stops_cleanly_on_sigterm(repository, tmp_path):
    ports = free_ports()
    key_file = tmp_path / "keys" / "admin-key"
    process = subprocess.Popen(command(repository, "--admin-key-file", str(key_file)), env=environment(ports),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                ready = f"http://127.0.0.1:{ports.http}/v2/models/asr/ready"
                if urllib.request.urlopen(ready, timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("server did not become ready")
        prefix = shm_prefix_of_server_on(ports.http)
        assert glob.glob(f"/dev/shm/{prefix}*"), "python backend made no shm regions"
        # The generated key is readable by its owner only, and it is the one that unlocks the restricted APIs.
        assert key_file.stat().st_mode & 0o777 == 0o600
        index = urllib.request.Request(f"http://127.0.0.1:{ports.http}/v2/repository/index", data=b"{}",
                                       headers={"admin-key": key_file.read_text().strip()})
        assert urllib.request.urlopen(index, timeout=5).status == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Triton is ready" in stdout and "Triton stopped." in stdout
    assert f"need the admin key (HTTP header 'admin-key', gRPC metadata 'triton-grpc-protocol-admin-key'): {key_file}" \
        in stdout
    assert glob.glob(f"/dev/shm/{prefix}*") == []


def test_serve_command_refuses_ports_in_use_before_starting(repository):
    ports = free_ports()
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", ports.grpc))
        other_server.listen()
        result = subprocess.run(command(repository), env=environment(ports), capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert "Triton is ready" not in result.stdout
    assert f"port {ports.grpc} on 127.0.0.1 already in use" in result.stderr


def gpu_repository(root, cache):
    """A repository whose configs name TensorRT engine caches: a native model's accelerator, a python model's."""
    from triton_speech.ensembles.spec import Batching, NativeModel, PythonModel, Tensor, to_text
    from triton_speech.runtime.profiles import Profile

    x, y = Tensor("x", "FP32", (-1,)), Tensor("y", "FP32", (-1,))
    native = NativeModel(name="quartznet", inputs=(x,), outputs=(y,), batching=Batching(), graph=root / "g.onnx",
                         tensorrt_accelerator=True, profile=Profile({"x": ((1, 1), (2, 2), (4, 4))}),
                         engine_cache=str(cache / "quartznet"))
    python = PythonModel(name="waveglow", inputs=(x,), outputs=(y,), batching=Batching(), device="gpu",
                         parameters={"engine_cache": str(cache / "waveglow")})
    for model in (native, python):
        (root / model.name).mkdir(parents=True)
        (root / model.name / "config.pbtxt").write_text(to_text(model.config()))
    return root


def test_engine_cache_folders_are_created_before_triton_loads_the_models(tmp_path):
    """TensorRT creates only the last folder of its cache path: a fresh volume mounted above must still work."""
    from triton_speech.server import engine_cache_dirs, prepare_engine_caches

    cache = tmp_path / "volume" / "engines"
    repository = gpu_repository(tmp_path / "repo", cache)
    assert engine_cache_dirs(repository) == [cache / "quartznet", cache / "waveglow"]
    assert not cache.exists()
    prepare_engine_caches(repository)
    assert (cache / "quartznet").is_dir() and (cache / "waveglow").is_dir()


def test_an_engine_cache_that_cannot_be_made_stops_the_start_by_name(tmp_path):
    from triton_speech.server import prepare_engine_caches

    (tmp_path / "a_file").write_text("")
    repository = gpu_repository(tmp_path / "repo", tmp_path / "a_file" / "engines")
    with pytest.raises(ServerError, match="cannot create the TensorRT engine cache .*a_file/engines/quartznet"):
        prepare_engine_caches(repository)
