"""A process the fleet starts, watches and stops: its command, environment and log file, what says it is ready, and
every process it started (each child leads a session of its own, which its descendants stay in)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from triton_speech.server import procfs

log = logging.getLogger("triton_speech.fleet")


class FleetError(RuntimeError):
    """A part of the fleet could not start (the message names it, with the end of its log)."""


class Stopping(Exception):
    """The fleet was asked to stop while it was starting."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def http_ok(url: str, timeout_s: float = 2.0) -> Callable[[], bool]:
    """A readiness check: ``url`` answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as answer:
                return answer.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    return check


def listening(host: str, *ports: int) -> Callable[[], bool]:
    """A readiness check: something accepts connections on each of ``ports``."""

    def check() -> bool:
        for port in ports:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                return False
        return True

    return check


@dataclass
class Child:
    """``start()``, ``wait_ready()``, ``stop()``; ``restart`` says whether the fleet starts it again when it exits by
    itself (as a Deployment restarts a pod's container).

    Each child begins a session; a process it starts may begin one of its own (the launcher's tritonserver does), so
    the sessions of its descendants are noted as they appear (``track``): whatever still runs in them once the child
    has exited is a leftover, and is killed."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[], bool]
    restart: bool = True
    stop_timeout_s: float = 60.0
    process: subprocess.Popen | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)
    starts: int = field(default=0, init=False)
    sessions: set[int] = field(default_factory=set, init=False)

    def start(self) -> "Child":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as output:
            output.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(self.command)}\n".encode())
            output.flush()
            self.process = subprocess.Popen(self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at, self.starts = time.monotonic(), self.starts + 1
        self.sessions.add(self.process.pid)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def track(self) -> None:
        """Note the sessions of the child's descendants (call it now and then while it runs)."""
        if self.running():
            self.sessions |= {sid for sid in map(procfs.session_of, procfs.descendants(self.pid)) if sid}

    def leftovers(self) -> list[int]:
        """What runs in the child's sessions, the child excepted."""
        return sorted(pid for sid in self.sessions for pid in procfs.session_members(sid) if pid != self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float, stopping: threading.Event) -> None:
        """Until ``ready()``; FleetError when it exits first or takes longer than ``timeout_s``, Stopping when
        ``stopping`` is set meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if not self.running():
                code = self.process.returncode if self.process is not None else None
                raise FleetError(f"{self.name} exited with code {code} before it was ready ({self.log_path}):\n"
                                 + self.log_tail())
            if time.monotonic() > deadline:
                raise FleetError(f"{self.name} not ready after {timeout_s:.0f} s ({self.log_path}):\n"
                                 + self.log_tail())
            if stopping.wait(0.2):
                raise Stopping()
        self.track()

    def stop(self) -> list[int]:
        """SIGTERM to the child (it stops what it started, as it would under a service manager), then, after
        ``stop_timeout_s``, SIGKILL. Returns what of its sessions outlived it, killed (none when it cleans up after
        itself)."""
        if self.process is None:
            return []
        self.track()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s still runs %.0f s after SIGTERM: killing it", self.name, self.stop_timeout_s)
                self.process.kill()
                self.process.wait()
        return self.kill_leftovers()

    def kill_leftovers(self) -> list[int]:
        """SIGKILL whatever still runs in the child's sessions after its exit; their pids."""
        left = self.leftovers()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            log.warning("%s left %d process(es) running after its exit: killed %s", self.name, len(left), left)
        self.sessions = {self.pid} if self.running() else set()
        return left
