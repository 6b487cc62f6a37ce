"""What /proc says, read for processes the test starts itself (a child that sleeps, a grandchild, a connection):
expected values come from the os module and from the processes the test made, not from /proc parsing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.waiting import wait_for
from triton_speech.server import procfs

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# a child that starts a grandchild (a sleeper with a marker argument, which the child's own arguments do not hold
# whole) and waits for it
PARENT = [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', "
          "'import time; time.sleep(60)', 'procfs-test-' + 'marker'])"]


@pytest.fixture()
def started():
    processes = []

    def start(argv, **options):
        process = subprocess.Popen(argv, **options)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if procfs.session_of(process.pid) == process.pid:  # a session of its own: end its grandchildren too
            for pid in procfs.session_members(process.pid):
                os.kill(pid, signal.SIGKILL)
        process.kill()
        process.wait()


def test_a_running_process_is_alive_and_named_by_its_start_time(started):
    child = started(SLEEPER)
    began = procfs.start_time(child.pid)
    assert began is not None and procfs.alive(child.pid) and procfs.alive(child.pid, began)
    assert not procfs.alive(child.pid, began + 1)  # another process that got the same pid
    child.kill()
    child.wait()
    assert not procfs.alive(child.pid) and procfs.start_time(child.pid) is None


def test_a_zombie_is_not_alive(started):
    child = started(SLEEPER)
    child.kill()
    wait_for(lambda: not procfs.alive(child.pid), 10, "the killed child turning zombie")
    assert procfs.start_time(child.pid) is not None  # still there, unreaped, but not running
    child.wait()


def test_sessions_groups_and_descendants(started):
    own = started(PARENT, start_new_session=True)
    wait_for(lambda: procfs.descendants(own.pid), 30, "the grandchild")
    [grandchild] = procfs.descendants(own.pid)
    assert procfs.session_of(own.pid) == own.pid == os.getsid(own.pid)
    assert sorted(procfs.session_members(own.pid)) == sorted([own.pid, grandchild])
    assert sorted(procfs.group_members(os.getpgid(own.pid))) == sorted([own.pid, grandchild])
    assert procfs.with_argument(b"procfs-test-marker") == [grandchild]
    assert own.pid in procfs.descendants(os.getpid()) and grandchild in procfs.descendants(os.getpid())
    assert procfs.session_of(2**22 + 1) is None  # beyond pid_max: no such process


def test_connections_are_the_descriptors_of_established_clients_on_the_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert procfs.connections(os.getpid(), port) == []  # listening is not a connection
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                # both ends are this process's: the accepted socket is on the port, the client's is not
                assert procfs.connections(os.getpid(), port) == [accepted.fileno()]
                assert client.fileno() not in procfs.connections(os.getpid(), port)


def test_busy_threads_count_running_threads_only(started):
    child = started(SLEEPER)
    time.sleep(0.2)  # (the sleeper is asleep whatever the wait; this only lets it get past its start)
    assert procfs.busy_threads([child.pid]) == 0
    spinner = started([sys.executable, "-c", "while True: pass"])
    wait_for(lambda: procfs.busy_threads([spinner.pid]) == 1, 30, "the spinning child counted busy")
    assert procfs.busy_threads([2**22 + 1]) == 0
