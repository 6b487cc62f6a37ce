"""Supervision that holds, through the real launcher command (``python -m triton_speech.server``) on a small
repository: a killed launcher takes tritonserver and its stubs with it, a killed tritonserver leaves no stub, a new
launcher starts on the same ports either way (cleaning up what the dead one left), and an idle keep-alive connection
does not hold a stop for the whole grace period."""

from __future__ import annotations

import glob
import os
import signal
import socket
import time

import pytest

from tests.server.launcher import serve, server_of, stop
from tests.support.ports import free_ports
from triton_speech.server import TritonServer, procfs, python_stubs

pytestmark = pytest.mark.server
GONE_WITHIN_S = 10.0


def wait_gone(pids: list[int], timeout_s: float = GONE_WITHIN_S) -> float:
    """Seconds until none of ``pids`` runs (fails after ``timeout_s``)."""
    started = time.monotonic()
    while any(procfs.alive(pid) for pid in pids):
        assert time.monotonic() - started < timeout_s, [pid for pid in pids if procfs.alive(pid)]
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_killed_launcher_takes_tritonserver_and_its_stubs_with_it(tone_repository):
    ports = free_ports()
    launcher = serve(tone_repository, ports)
    server, prefix = server_of(launcher)
    stubs = list(python_stubs(server))
    assert len(stubs) >= 4 and os.getpgid(server) == server and {os.getpgid(s) for s in stubs} == {server}
    os.kill(stubs[0], signal.SIGSTOP)  # a stub that would never end by itself (as one was seen to)
    launcher.kill()
    gone_s = wait_gone([server, *stubs])
    print(f"launcher SIGKILLed: tritonserver and {len(stubs)} stubs gone in {gone_s:.2f} s")
    assert procfs.with_argument(prefix.encode()) == []
    assert glob.glob(f"/dev/shm/{prefix}*")  # nobody was left to remove them: the next launcher does
    successor = serve(tone_repository, ports)  # the same ports: nothing holds them
    assert glob.glob(f"/dev/shm/{prefix}*") == []
    stop(successor)


def test_a_killed_tritonserver_leaves_no_stub_and_a_new_launcher_starts(tone_repository):
    ports = free_ports()
    launcher = serve(tone_repository, ports)
    server, prefix = server_of(launcher)
    stubs = list(python_stubs(server))
    os.kill(stubs[0], signal.SIGSTOP)  # a stub that would never end by itself (as one was seen to)
    os.kill(server, signal.SIGKILL)
    gone_s = wait_gone(stubs)
    print(f"tritonserver SIGKILLed: its {len(stubs)} stubs gone in {gone_s:.2f} s")
    assert launcher.wait(timeout=30) == 1
    assert "tritonserver exited unexpectedly" in launcher.stderr.read()
    assert procfs.with_argument(prefix.encode()) == [] and glob.glob(f"/dev/shm/{prefix}*") == []
    stop(serve(tone_repository, ports))


def test_an_idle_keep_alive_connection_does_not_hold_the_stop(tone_repository, tmp_path):
    """Triton waits for every HTTP connection before it drains; an idle one would hold the stop for the whole grace
    period and then make Triton exit without unloading. Its last request answered, the launcher closes it."""
    server = TritonServer(tone_repository, ports=free_ports(), log_path=tmp_path / "tritonserver.log", grace_s=60)
    server.start()
    idle = socket.create_connection(("127.0.0.1", server.ports.http))
    idle.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: triton\r\n\r\n")
    assert idle.recv(1024).startswith(b"HTTP/1.1 200")
    process = server.process
    started = time.monotonic()
    server.stop()
    took_s = time.monotonic() - started
    log = server.log_path.read_text()
    print(f"stop with an idle keep-alive connection: {took_s:.1f} s (grace {server.grace_s:.0f} s)")
    assert "Found 1 HTTP service connections" in log  # Triton did wait for it
    assert process.returncode == 0 and "failed to stop server" not in log  # a clean stop: every model unloaded
    assert log.count("successfully unloaded") == len(server.models())
    assert took_s < server.grace_s / 2
    assert idle.recv(1024) == b""  # the client sees the connection closed
