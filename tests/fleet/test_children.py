"""A process the fleet starts: ready when its check says so, a clear error when it exits first, and a stop that
ends whatever it started, even in a session of its own that ignores SIGTERM."""

from __future__ import annotations

import threading
import time

import pytest

from triton_speech.fleet.children import Child, FleetError, Stopping
from triton_speech.server import procfs

# Starts a grandchild in a session of its own that ignores SIGTERM (as a python stub was seen to), says so, and
# exits on SIGTERM itself.
UNRULY = """setsid bash -c 'trap "" TERM; echo $$ > grandchild; while :; do sleep 1; done' &
trap 'exit 0' TERM
while [ ! -s grandchild ]; do sleep 0.05; done
touch ready
while :; do sleep 0.1; done"""


def child(tmp_path, script: str, ready_file: str = "ready") -> Child:
    return Child("test-child", ["bash", "-c", script], {"PATH": "/usr/bin:/bin"}, tmp_path / "child.log",
                 ready=lambda: (tmp_path / ready_file).exists())


def test_a_stop_ends_what_the_child_started_in_a_session_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    unruly = child(tmp_path, UNRULY).start()
    unruly.wait_ready(30, threading.Event())
    grandchild = int((tmp_path / "grandchild").read_text())
    assert procfs.session_of(grandchild) == grandchild != unruly.pid  # its own session, noted while it ran
    assert grandchild in unruly.leftovers()
    killed = unruly.stop()
    assert grandchild in killed and all(procfs.session_of(pid) in (grandchild, None) for pid in killed)
    deadline = time.monotonic() + 10
    while procfs.alive(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived the stop"
        time.sleep(0.05)
    assert unruly.process.returncode == 0 and unruly.leftovers() == []


def test_a_child_that_cleans_up_leaves_nothing_to_kill(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tidy = child(tmp_path, "touch ready; exec sleep 300").start()
    tidy.wait_ready(30, threading.Event())
    assert tidy.stop() == [] and not tidy.running()


def test_a_child_that_exits_before_it_is_ready_is_a_clear_error(tmp_path):
    broken = child(tmp_path, "echo 'cannot bind port 1234' >&2; exit 3").start()
    with pytest.raises(FleetError, match=r"(?s)test-child exited with code 3 before it was ready .*cannot bind"):
        broken.wait_ready(30, threading.Event())


def test_waiting_for_readiness_ends_when_the_fleet_stops_or_the_time_is_up(tmp_path):
    slow = child(tmp_path, "exec sleep 300").start()
    stopping = threading.Event()
    threading.Timer(0.3, stopping.set).start()
    with pytest.raises(Stopping):
        slow.wait_ready(60, stopping)
    with pytest.raises(FleetError, match="test-child not ready after 1 s"):
        slow.wait_ready(1, threading.Event())
    assert slow.stop() == []
