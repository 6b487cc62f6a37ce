"""A launcher cleans up after one that died: the records it leaves, the processes and shared memory they name, and
never the processes of a launcher that still runs. With stand-in processes (a server that would not die with its
launcher), so that every branch runs without Triton."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from triton_speech.server import procfs, state


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path / "triton-speech"


def stand_in(prefix: str) -> subprocess.Popen:
    """A process that runs until killed, named by ``prefix`` in its arguments (as a server and its stubs are)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", f"shm-region-prefix-name={prefix}"])


def dead_launcher() -> tuple[int, int]:
    """(pid, start time) of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    started = procfs.start_time(process.pid)
    process.wait()
    return process.pid, started


def shm_region(prefix: str) -> Path:
    region = state.SHM_DIR / f"{prefix}test_region"
    region.write_bytes(b"x")
    return region


def test_what_a_dead_launcher_left_is_ended_and_removed(runtime):
    prefix = f"triton_speech_test{os.getpid()}a_"
    server, stub = stand_in(prefix), stand_in(prefix)
    region = shm_region(prefix)
    record = state.Record(*dead_launcher(), server.pid, "127.0.0.1", (18000, 18001, 18002), prefix)
    path = record.write()
    assert path.parent == runtime and runtime.stat().st_mode & 0o777 == 0o700
    try:
        cleaned = state.clean_up_after_dead_launchers("127.0.0.1", (18001,))  # one port in common is enough
        assert cleaned == [record]
        assert server.wait(timeout=10) == -9 and stub.wait(timeout=10) == -9  # SIGKILL: stubs ignore SIGTERM
        assert not region.exists() and not path.exists()
    finally:
        for process in (server, stub):
            process.kill()
        region.unlink(missing_ok=True)


def test_a_running_launchers_server_is_left_alone(runtime):
    prefix = f"triton_speech_test{os.getpid()}b_"
    server = stand_in(prefix)
    region = shm_region(prefix)
    record = state.Record(os.getpid(), procfs.start_time(os.getpid()), server.pid, "127.0.0.1", (18010, 18011, 18012),
                          prefix)
    path = record.write()
    try:
        assert state.clean_up_after_dead_launchers("127.0.0.1", (18010, 18011, 18012)) == []
        time.sleep(0.2)
        assert server.poll() is None and region.exists() and path.exists()
    finally:
        server.kill()
        region.unlink(missing_ok=True)


def test_records_of_other_ports_and_addresses_are_not_touched(runtime):
    prefix = f"triton_speech_test{os.getpid()}c_"
    server = stand_in(prefix)
    record = state.Record(*dead_launcher(), server.pid, "127.0.0.1", (18020, 18021, 18022), prefix)
    record.write()
    try:
        assert state.clean_up_after_dead_launchers("127.0.0.1", (18030, 18031, 18032)) == []
        assert state.clean_up_after_dead_launchers("0.0.0.0", (18020, 18021, 18022)) == []
        assert server.poll() is None
    finally:
        server.kill()


def test_a_directory_others_can_use_is_not_trusted(runtime):
    runtime.mkdir(mode=0o777)
    runtime.chmod(0o777)
    assert state.runtime_dir() is None
    assert state.Record(1, 1, 1, "127.0.0.1", (1, 2, 3), "p_").write() is None
