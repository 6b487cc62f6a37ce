"""What ``/proc`` says about the server's processes."""

from __future__ import annotations

import glob
import os
from pathlib import Path

STUB_NAME = b"triton_python_backend_stub"


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def python_stubs(server_pid: int) -> dict[int, tuple[str, str]]:
    """The server's python-backend stub processes: pid -> (model, instance), from the stub's arguments (the
    model.py path it runs, and the instance name such as ``quartznet_0_0``)."""
    stubs = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        pid = Path(stat).parent.name
        try:
            if int(_stat_fields(pid)[1]) != server_pid:
                continue
            argv = Path(stat).with_name("cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if argv and argv[0].endswith(STUB_NAME) and len(argv) > 8:
            stubs[int(pid)] = (Path(argv[1].decode()).parent.parent.name, argv[8].decode())
    return stubs


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot): with the pid, it names one process (pids are reused); None
    when there is no such process."""
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int, started: int | None = None) -> bool:
    """``pid`` runs (not a zombie), and is the process that started at ``started`` when given."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return False
    return fields[0] != "Z" and (started is None or int(fields[19]) == started)


def _members(field: int, value: int) -> list[int]:
    """The running processes whose stat field ``field`` (after the name: 2 process group, 3 session) is ``value``."""
    members = []
    for pid in _pids():
        try:
            fields = _stat_fields(pid)
        except (OSError, IndexError):
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            members.append(pid)
    return members


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid``."""
    return _members(2, pgid)


def session_members(sid: int) -> list[int]:
    """The running processes of session ``sid``: a process that began a session, and whatever it started that did
    not leave it (a process group of its own stays in the session)."""
    return _members(3, sid)


def session_of(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[3])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """The running processes ``pid`` started, and those they started, at any depth (an orphan, re-parented to
    another process, is no longer among them)."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        try:
            children.setdefault(int(_stat_fields(other)[1]), []).append(other)
        except (OSError, IndexError, ValueError):
            continue
    found, queue = [], list(children.get(pid, []))
    while queue:
        found.append(queue.pop())
        queue += children.get(found[-1], [])
    return found


def with_argument(fragment: bytes) -> list[int]:
    """The running processes one of whose arguments contains ``fragment``."""
    found = []
    for pid in _pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if fragment in argv and alive(pid):
            found.append(pid)
    return found


def busy_threads(pids: list[int]) -> int:
    """How many threads of the processes run or wait to run (or wait on a disk): work in progress. A thread that
    waits its turn on a busy machine counts too, where its CPU time would hardly grow."""
    busy = 0
    for pid in pids:
        for stat in glob.glob(f"/proc/{pid}/task/[0-9]*/stat"):
            try:
                busy += Path(stat).read_text().rsplit(")", 1)[1].split()[0] in ("R", "D")
            except (OSError, IndexError):
                pass
    return busy


def connections(pid: int, local_port: int) -> list[int]:
    """The file descriptors of ``pid``'s established TCP connections on its ``local_port`` (the clients
    connected to that port)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    descriptors = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            descriptors.append(int(name))
    return descriptors
