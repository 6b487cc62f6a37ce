"""The served API is locked down: model control, shared memory, trace and log settings need the admin key (over HTTP
and gRPC); inference and statistics do not. A client without the key cannot load code or map memory, nor read the key
from the machine's processes; perf_analyzer measures a server it has no key for."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpc_client
from tritonclient.utils import InferenceServerException

from tests.server.launcher import serve, stop
from tests.support.paths import REPOSITORY_ROOT
from tests.support.ports import free_ports
from triton_speech.benchmarks.perf import executable as perf_executable
from triton_speech.server import python_stubs

pytestmark = pytest.mark.server

# (method, path, body): every restricted category over HTTP. The load carries a config override and a model.py
# file, the code-execution route of an open model-repository API.
MALICIOUS_MODEL = "import os\nos.system('touch /tmp/triton_speech_pwned')\n"
HTTP_CALLS = {
    "repository index": ("POST", "/v2/repository/index", {}),
    "load with a python file": ("POST", "/v2/repository/models/evil/load", {"parameters": {
        "config": json.dumps({"name": "evil", "backend": "python", "max_batch_size": 0,
                              "input": [{"name": "X", "data_type": "TYPE_FP32", "dims": [1]}],
                              "output": [{"name": "Y", "data_type": "TYPE_FP32", "dims": [1]}]}),
        "file:1/model.py": __import__("base64").b64encode(MALICIOUS_MODEL.encode()).decode()}}),
    "unload": ("POST", "/v2/repository/models/asr/unload", {}),
    "shared memory register": ("POST", "/v2/systemsharedmemory/region/mine/register",
                               {"key": "/triton_speech_test_region", "offset": 0, "byte_size": 64}),
    "shared memory status": ("GET", "/v2/systemsharedmemory/status", None),
    "trace settings": ("POST", "/v2/trace/setting", {"trace_file": "/tmp/triton_speech_trace.json"}),
    "log settings": ("POST", "/v2/logging", {"log_file": "/tmp/triton_speech_log.txt"}),
}


def http(triton, method: str, path: str, body, headers=None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://{triton.http_url}{path}", method=method, headers=headers or {},
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize("call", list(HTTP_CALLS))
def test_restricted_http_apis_refuse_a_client_without_the_key(triton, call):
    status, body = http(triton, *HTTP_CALLS[call])
    assert status == 403, body
    assert "This API is restricted, expecting header 'admin-key'" in body
    status, body = http(triton, *HTTP_CALLS[call], headers={"admin-key": "a wrong key"})
    assert status == 403, body


def test_nothing_was_loaded_by_the_refused_calls(triton):
    status, body = http(triton, "POST", "/v2/repository/index", {}, headers=triton.admin_headers("http"))
    assert status == 200
    assert "evil" not in {model["name"] for model in json.loads(body)}
    assert not __import__("os").path.exists("/tmp/triton_speech_pwned")
    assert http(triton, "GET", "/v2/models/asr/ready", None)[0] == 200  # the refused unload did nothing


def test_the_admin_key_unlocks_them(triton):
    headers = triton.admin_headers("http")
    assert http(triton, "GET", "/v2/systemsharedmemory/status", None, headers)[0] == 200
    # Loading a model that is loaded, unchanged, is accepted and changes nothing.
    assert http(triton, "POST", "/v2/repository/models/punctuator/load", {}, headers)[0] == 200


GRPC_CALLS = {
    "load": lambda c, h: c.load_model("asr", headers=h),
    "unload": lambda c, h: c.unload_model("asr", headers=h),
    "repository index": lambda c, h: c.get_model_repository_index(headers=h),
    "shared memory register": lambda c, h: c.register_system_shared_memory("mine", "/triton_speech_test", 64,
                                                                           headers=h),
    "trace settings": lambda c, h: c.update_trace_settings(settings={"trace_file": "/tmp/x.json"}, headers=h),
    "log settings": lambda c, h: c.update_log_settings(settings={"log_file": "/tmp/x.txt"}, headers=h),
}


@pytest.mark.parametrize("call", list(GRPC_CALLS))
def test_restricted_grpc_protocols_refuse_a_client_without_the_key(triton, call):
    client = grpc_client.InferenceServerClient(triton.grpc_url)
    with pytest.raises(InferenceServerException, match="expecting header 'triton-grpc-protocol-admin-key'"):
        GRPC_CALLS[call](client, None)


def test_grpc_admin_key_unlocks_and_inference_needs_none(triton):
    client = grpc_client.InferenceServerClient(triton.grpc_url)
    assert client.get_model_repository_index(headers=triton.admin_headers("grpc"), as_json=True)["models"]
    text = grpc_client.InferInput("TEXT", [1, 1], "BYTES")
    text.set_data_from_numpy(np.array([[b"hello world"]], dtype=np.object_))
    assert client.infer("punctuator", [text]).as_numpy("PUNCTUATED_TEXT").shape == (1, 1)


def test_every_server_gets_its_own_random_key(repository):
    from triton_speech.server import TritonServer

    first, second = TritonServer(repository), TritonServer(repository)
    assert first.admin_key != second.admin_key and len(first.admin_key) >= 40
    assert first.admin_key not in " ".join(first.command())  # the launch hands it over, never as an argument


# Run as another local user: every process's command line and environment that user can read, searched for the key
# (read from stdin: an argument would put it in this process's own command line), and the restricted API tried.
OTHER_USER_PROBE = r"""
import glob, json, sys, urllib.error, urllib.request
key, server_pid, url = sys.stdin.read().split()
found, readable = [], {"cmdline": 0, "environ": 0}
placeholder_seen = False
for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    readable[path.rsplit("/", 1)[1]] += 1
    if key.encode() in data:
        found.append(path)
    if path == f"/proc/{server_pid}/cmdline" and b"admin-key=" in data:
        placeholder_seen = True
request = urllib.request.Request(url + "/v2/repository/index", data=b"{}", method="POST")
try:
    status = urllib.request.urlopen(request, timeout=10).status
except urllib.error.HTTPError as error:
    status = error.code
print(json.dumps({"found": found, "readable": readable, "placeholder_seen": placeholder_seen, "status": status}))
"""


def as_other_user(user: str, script: str, stdin: str) -> dict:
    result = subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", script], input=stdin,
                            capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="switching users needs root and runuser")
def test_another_local_user_cannot_read_the_admin_key(triton):
    probe = as_other_user("nobody", OTHER_USER_PROBE, f"{triton.admin_key} {triton.process.pid} http://{triton.http_url}")
    assert probe["found"] == []
    assert probe["placeholder_seen"]  # it did read the server's command line, where the key would have been
    assert probe["readable"]["cmdline"] > 10 and probe["readable"]["environ"] >= 1  # its own, at least
    assert probe["status"] == 403  # and the restricted API refuses it


def test_the_key_is_in_no_argument_environment_or_log_of_the_server(triton):
    """Not even for the key's owner: the server and its stubs (which run the models' code) never hold it in their
    arguments or environment, and the server's log does not show it."""
    key = triton.admin_key.encode()
    pids = [triton.process.pid, *python_stubs(triton.process.pid)]
    assert len(pids) > 5
    for pid in pids:
        for part in ("cmdline", "environ"):
            assert key not in Path(f"/proc/{pid}/{part}").read_bytes(), (pid, part)
    assert key not in triton.log_path.read_bytes()
    assert http(triton, "POST", "/v2/repository/index", {}, headers=triton.admin_headers("http"))[0] == 200


def test_an_admin_reload_is_not_taken_for_a_dead_stub(triton):
    """A reload replaces a model's stubs (the new ones start first): the watchdog must not 'heal' that."""
    headers = triton.admin_headers("http")
    stub_of = lambda: {i: p for p, (m, i) in python_stubs(triton.process.pid).items() if m == "punctuator"}  # noqa: E731
    before = stub_of()
    (triton.model_repository / "punctuator" / "1" / "model.py").touch()  # a changed model is reloaded by a load
    assert http(triton, "POST", "/v2/repository/models/punctuator/load", {}, headers)[0] == 200
    deadline = time.monotonic() + 10
    while stub_of() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the watchdog has seen the old stub go
    assert stub_of().keys() == before.keys() and stub_of() != before
    assert triton.stub_watchdog.events == []
    assert http(triton, "GET", "/v2/models/asr/ready", None)[0] == 200


def test_statistics_are_open_as_the_metrics_port_is(triton):
    """Read-only, and the same counts the metrics port serves to anyone: load testers read them without a key."""
    status, body = http(triton, "GET", "/v2/models/asr/stats", None)
    assert status == 200 and json.loads(body)["model_stats"][0]["name"] == "asr"
    stats = grpc_client.InferenceServerClient(triton.grpc_url).get_inference_statistics(as_json=True)
    assert {"asr", "tts"} <= {entry["name"] for entry in stats["model_stats"]}


@pytest.fixture(scope="module")
def served(tone_repository):
    """`make serve` as a user runs it: the launcher command, with a key of its own that the user does not pass on."""
    ports = free_ports()
    launcher = serve(tone_repository, ports)
    yield ports
    stop(launcher)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_perf_analyzer_measures_the_served_models_without_the_key(served, tmp_path, protocol):
    """The perf_analyzer command of the README (and docs/operations.md), as written (inputs from `python -m
    benchmarks.inputs`, the library links from bundled_library_dir)."""
    inputs = tmp_path / "inputs"
    made = subprocess.run([sys.executable, "-m", "benchmarks.inputs", "--output", str(inputs), "--seconds", "5",
                           "--clips", "1"], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    libraries = subprocess.run([sys.executable, "-c", "from triton_speech.server import bundled_library_dir as d; "
                                "print(d())"], capture_output=True, text=True, check=True).stdout.strip()
    port = served.grpc if protocol == "grpc" else served.http
    result = subprocess.run([str(perf_executable()), "-m", "asr", "-i", protocol, "-u", f"127.0.0.1:{port}",
                             "--input-data", str(inputs / "asr_5s.json"), "--concurrency-range", "4", "-s", "25",
                             "--max-trials", "10"], env=dict(os.environ, LD_LIBRARY_PATH=libraries),
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert "restricted" not in output
    assert result.returncode == 0, output
    assert re.search(r"Concurrency: 4, throughput: [0-9.]+ infer/sec", output), output
    # The server side of its report comes from the statistics API: read without the key
    assert re.search(r"Server:\s+Inference count: [1-9]", output) and "Composing models" in output, output
