"""A Triton replica as the fleet runs it: the launcher on ports of its own, ready when Triton is, and a stop that
leaves none of its processes (tritonserver and its stubs run in a session of their own)."""

from __future__ import annotations

import os
import threading

import pytest

from tests.support.tones import tone_clip
from triton_speech.client import ASRClient
from triton_speech.fleet.replicas import new_ports, triton_replica
from triton_speech.server import procfs, python_stubs


@pytest.mark.server
def test_a_replica_serves_on_its_ports_and_stops_leaving_nothing(tone_repository, tone_pipeline, tmp_path):
    ports = new_ports()
    replica = triton_replica(0, str(tone_repository), ports, tmp_path, dict(os.environ))
    replica.start()
    try:
        replica.wait_ready(180, threading.Event())
        server = replica.tritonserver()
        stubs = list(python_stubs(server))
        assert server and len(stubs) >= 4 and procfs.session_of(server) == server != replica.pid
        audio, _ = tone_clip(3, seed=4)
        assert ASRClient(f"127.0.0.1:{ports.grpc}").transcribe(audio) == tone_pipeline.transcribe([audio])[0]
        assert (tmp_path / "triton-0" / "admin-key").stat().st_mode & 0o077 == 0  # its own key, private
        assert replica.balanced.grpc == ports.grpc and replica.balanced.http == ports.http
    finally:
        killed = replica.stop()
    assert killed == []  # the launcher ended tritonserver and its stubs itself
    assert replica.process.returncode == 0
    assert not any(procfs.alive(pid) for pid in [server, *stubs])
