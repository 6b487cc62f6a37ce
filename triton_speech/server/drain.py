"""Ending a drain held open by idle HTTP keep-alive connections.

On SIGTERM, Triton 2.51 first waits for every HTTP connection to close (logging "Found N HTTP service connections"
each second) before it drains and unloads the models; a client that keeps an idle keep-alive connection open holds
the whole stop until the exit timeout, and then Triton exits without unloading. Meanwhile the server still serves
requests on the connections it has, and over gRPC. Once the server has been quiet for a while (no request queued,
none completed, no thread of it or its stubs running), and a connection's last bytes were the server's (an answer,
no request after it), that connection carries no request: the launcher shuts it down from its side (it may: the
server is its child), and Triton goes on to its clean stop.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from triton_speech.server import procfs

HTTP_DRAIN = re.compile(r"Found (\d+) HTTP service connections")
# Quiet: this many consecutive samples (one per stop-loop tick, 0.1 s apart) with no request queued or completed and
# no thread of the server or its stubs running (all computing happens in them).
QUIET_SAMPLES = 15
_PIDFD_GETFD = 438  # the syscall's number on every Linux architecture (the common table)
_TCP_INFO_TIMES = struct.Struct("=44xI4xI")  # tcp_info's tcpi_last_data_sent and tcpi_last_data_recv (ms ago)


def http_connections_held(log_tail: str) -> int:
    """How many HTTP connections Triton's stop waits for, by its latest log line about them in ``log_tail`` (a few
    last lines: 0 once other lines followed)."""
    found = HTTP_DRAIN.findall(log_tail)
    return int(found[-1]) if found else 0


def _metric_totals(metrics_url: str) -> tuple[float, float] | None:
    """(requests queued now, requests completed so far) over all models, from the metrics port."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=1) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    queued = completed = 0.0
    for line in text.splitlines():
        name, _, value = line.partition("{")
        if name == "nv_inference_pending_request_count":
            queued += float(value.rsplit(" ", 1)[1])
        elif name in ("nv_inference_request_success", "nv_inference_request_failure"):
            completed += float(value.rsplit(" ", 1)[1])
    return queued, completed


@dataclass
class Quietness:
    """Samples the server until it has been quiet for QUIET_SAMPLES samples in a row."""

    pgid: int
    metrics_url: str
    _last: tuple[float, float] | None = field(default=None, init=False)
    _quiet: int = field(default=0, init=False)

    def sample(self) -> bool:
        """Take one sample; whether the server has been quiet long enough."""
        # The threads first: the metrics request below keeps one of the server's own threads busy for a moment.
        idle = procfs.busy_threads(procfs.group_members(self.pgid)) == 0
        totals = _metric_totals(self.metrics_url)
        quiet = idle and totals is not None and self._last is not None and totals == (0.0, self._last[1])
        self._quiet = self._quiet + 1 if quiet else 0
        self._last = totals
        return self._quiet >= QUIET_SAMPLES


def _idle(connection: socket.socket) -> bool:
    """The server answered the last thing the client sent (or nothing was sent): no request waits on it."""
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    last_sent_ms_ago, last_received_ms_ago = _TCP_INFO_TIMES.unpack_from(info)
    return last_sent_ms_ago <= last_received_ms_ago


def close_idle_connections(pid: int, port: int) -> int | None:
    """Shut down ``pid``'s idle established connections on ``port``; how many, or None when they cannot be reached
    (no pidfd_getfd: Linux before 5.6, or a sandbox that forbids it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    closed = 0
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        for descriptor in procfs.connections(pid, port):
            duplicate = libc.syscall(_PIDFD_GETFD, pidfd, descriptor, 0)
            if duplicate < 0:
                return None
            with socket.socket(fileno=duplicate) as connection:
                if _idle(connection):
                    connection.shutdown(socket.SHUT_RDWR)  # the socket is the server's too: its side sees the end
                    closed += 1
    finally:
        os.close(pidfd)
    return closed
