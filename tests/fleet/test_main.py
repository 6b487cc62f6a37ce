"""``python -m triton_speech.fleet`` (``make fleet``) as a person runs it: it says where everything answers, serves
there, and Ctrl-C stops everything it started: nothing of it runs afterwards, and the ports are free again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.support.paths import REPOSITORY_ROOT
from tests.support.ports import free_port
from tests.support.tones import tone_clip
from triton_speech.client import ASRClient
from triton_speech.server import procfs


@pytest.mark.server
def test_the_command_serves_where_make_serve_and_make_app_do_and_ctrl_c_stops_everything(tone_repository,
                                                                                         tone_pipeline, tmp_path):
    ports = {"TRITON_GRPC_PORT": free_port(), "TRITON_HTTP_PORT": free_port(), "APP_PORT": free_port()}
    env = {**os.environ, **{name: str(port) for name, port in ports.items()}, "FLEET_REPLICAS": "1"}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "triton_speech.fleet", "--model-repository", str(tone_repository),
               "--gateways", "1", "--run-dir", str(tmp_path / "run")]
    fleet = subprocess.Popen(command, env=env, cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    said = []
    for line in fleet.stdout:
        said.append(line)
        if line.startswith("Ctrl-C stops everything"):
            break
    assert fleet.poll() is None, "".join(said)
    text = "".join(said)
    assert f"gRPC 127.0.0.1:{ports['TRITON_GRPC_PORT']}, HTTP 127.0.0.1:{ports['TRITON_HTTP_PORT']}" in text
    assert f"open http://127.0.0.1:{ports['APP_PORT']}/#key=" in text and "1 Triton replica(s)" in text
    processes = [fleet.pid, *procfs.descendants(fleet.pid)]
    assert any(process_name(pid) == "haproxy" for pid in processes)
    audio, _ = tone_clip(3, seed=9)
    assert ASRClient(f"127.0.0.1:{ports['TRITON_GRPC_PORT']}").transcribe(audio) == tone_pipeline.transcribe([audio])[0]
    key = text.split("#key=")[1].split()[0]
    health = httpx.get(f"http://127.0.0.1:{ports['APP_PORT']}/health", headers={"Authorization": f"Bearer {key}"})
    assert health.status_code == 200, health.text
    fleet.send_signal(signal.SIGINT)  # Ctrl-C
    rest, _ = fleet.communicate(timeout=180)
    assert fleet.returncode == 0, rest
    assert "Fleet stopped: nothing of it runs." in rest
    assert [pid for pid in processes if procfs.alive(pid)] == []
    for port in ports.values():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""
