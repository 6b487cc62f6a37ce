"""``make app`` (python -m triton_speech.gateway): Triton and the gateway start together, the page's address is
printed with a local API key, SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest

from tests.support.ports import free_port, free_ports

pytestmark = pytest.mark.server


def get(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def riva_punctuates(address: str, key: str | None) -> str:
    import grpc
    from riva.client.proto import riva_nlp_pb2, riva_nlp_pb2_grpc

    metadata = [("authorization", f"Bearer {key}")] if key else []
    with grpc.insecure_channel(address) as channel:
        stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(channel)
        return stub.PunctuateText(riva_nlp_pb2.TextTransformRequest(text=["hello there"]), timeout=60,
                                  metadata=metadata).text[0]


def outward_address() -> str | None:
    """This machine's address towards other hosts (a UDP socket's choice; nothing is sent), if not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = udp.getsockname()[0]
    return None if address.startswith("127.") else address


def launch(repository, tmp_path, ports, app_port, riva_port=None) -> subprocess.Popen:
    env = {**os.environ, "TRITON_HTTP_PORT": str(ports.http), "TRITON_GRPC_PORT": str(ports.grpc),
           "TRITON_METRICS_PORT": str(ports.metrics), "APP_PORT": str(app_port),
           "RIVA_PORT": str(riva_port or free_port()),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}", "APP_MEDIA_DIR": str(tmp_path / "media"),
           "APP_LOCAL_KEY_FILE": str(tmp_path / "local-api-key")}
    return subprocess.Popen([sys.executable, "-m", "triton_speech.gateway", "--model-repository", str(repository)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_app_serves_both_and_sigterm_stops_both(repository, tmp_path):
    ports, app_port, riva_port = free_ports(), free_port(), free_port()
    process = launch(repository, tmp_path, ports, app_port, riva_port)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while get(f"http://127.0.0.1:{app_port}/health") != 200:
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the app did not become ready"
            time.sleep(0.5)
        # the page's address, with the local key after #key= (as Jupyter prints its token)
        opened = next(line for line in lines if line.startswith("Open "))
        key = opened.split("#key=")[1].split()[0]
        assert opened.startswith(f"Open http://127.0.0.1:{app_port}/#key=tsk_")
        assert (tmp_path / "local-api-key").read_text().strip() == key
        api = f"http://127.0.0.1:{app_port}/api/speech"
        assert get(api) == 401 and get(api, {"Authorization": f"Bearer {key}"}) == 200
        assert get(api, {"Authorization": f"Bearer {key}", "Host": "evil.example"}) == 400
        assert get(f"http://127.0.0.1:{ports.http}/v2/health/ready") == 200  # Triton on the TRITON_* ports
        request = urllib.request.Request(f"http://127.0.0.1:{app_port}/", headers={"X-Request-ID": "launcher-test"})
        with urllib.request.urlopen(request, timeout=5) as page:
            assert b"Speech to text" in page.read()
        # the Riva gRPC API on RIVA_PORT, in the same process, behind the same API keys
        with pytest.raises(grpc.RpcError) as refused:
            riva_punctuates(f"127.0.0.1:{riva_port}", None)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert riva_punctuates(f"127.0.0.1:{riva_port}", (tmp_path / "local-api-key").read_text().strip())
        outside = outward_address()
        if outside is not None:  # the gateway listens on loopback only: this machine's other address is refused
            for port in (app_port, riva_port):
                with socket.socket() as probe:
                    probe.settimeout(2)
                    assert probe.connect_ex((outside, port)) != 0
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)
        reader.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "[launcher-test] triton_speech.gateway: GET / -> 200" in output  # request ids in the log
    assert output.rstrip().endswith("Stopped.")
    assert ports.taken() == [] and get(f"http://127.0.0.1:{app_port}/health/live") == 0  # both are gone
    assert f"Riva API: 127.0.0.1:{riva_port}" in output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", riva_port)) != 0
    assert (tmp_path / "app.sqlite3").exists()


def launch_beside_a_squatter(repository, tmp_path, ports, which: str, timeout_s: float) -> tuple[int, int, str]:
    """(the taken port, exit code, output) of a launch whose APP_PORT (``which`` "app") or RIVA_PORT is taken."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        app_port, riva_port = (taken, None) if which == "app" else (free_port(), taken)
        process = launch(repository, tmp_path, ports, app_port, riva_port)
        output, _ = process.communicate(timeout=timeout_s)
    return taken, process.returncode, output


def test_a_taken_app_port_is_a_clear_error_before_triton_starts(repository, tmp_path):
    taken, code, output = launch_beside_a_squatter(repository, tmp_path, free_ports(), "app", timeout_s=60)
    assert code == 1
    assert f"port {taken} on 127.0.0.1 is already in use: set APP_PORT" in output
    assert "Triton is ready" not in output


def test_a_taken_riva_port_is_a_clear_error_and_stops_triton(repository, tmp_path):
    ports = free_ports()
    taken, code, output = launch_beside_a_squatter(repository, tmp_path, ports, "riva", timeout_s=180)
    assert code == 1
    assert f"port {taken} on 127.0.0.1 is already in use (or cannot be bound): set RIVA_PORT" in output
    assert ports.taken() == []  # Triton, started first, is stopped
