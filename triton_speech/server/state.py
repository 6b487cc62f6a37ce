"""What a running launcher leaves on disk so that the next one can clean up after it if it dies.

One record per server, in a directory only its user can use (``$XDG_RUNTIME_DIR/triton-speech``, else
``/tmp/triton-speech-UID``): the launcher's pid and start time, the server's pid, its address and ports, and its
/dev/shm prefix (which names the server and its stubs in their arguments). A launcher about to start on some port
reads the records naming it: when the record's launcher is gone, whatever of its server still runs is ended and its
shared-memory regions removed. While a record's launcher runs, its ports are simply in use.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import signal
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from triton_speech.server import procfs

log = logging.getLogger("triton_speech.server")
SHM_DIR = Path("/dev/shm")


def runtime_dir() -> Path | None:
    """This user's private directory of records, made if needed; None when it is not private (someone else's, a
    link, or open to others) or cannot be made."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "triton-speech" if base else Path("/tmp") / f"triton-speech-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        log.warning("not keeping launcher records in %s: it is not a private directory of this user", folder)
        return None
    return folder


@dataclass(frozen=True)
class Record:
    launcher_pid: int
    launcher_started: int
    server_pid: int
    address: str
    ports: tuple[int, ...]
    shm_prefix: str

    @property
    def path_name(self) -> str:
        return f"{self.address}-{'-'.join(map(str, self.ports))}.json"

    def write(self) -> Path | None:
        folder = runtime_dir()
        if folder is None:
            return None
        path = folder / self.path_name
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)))
        temporary.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> "Record | None":
        try:
            data = json.loads(path.read_text())
            return cls(**{**data, "ports": tuple(data["ports"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None


def remove_shm_regions(prefix: str) -> list[str]:
    """Remove the python-backend shared-memory regions named with ``prefix``."""
    leftovers = glob.glob(str(SHM_DIR / f"{prefix}*"))
    for path in leftovers:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return leftovers


def end_processes(shm_prefix: str, timeout_s: float = 10.0) -> list[int]:
    """SIGKILL a server and its python stubs, all named by the server's shm prefix in their arguments (unique to
    one server, unlike a pid or a process group, which the system reuses), and wait until they are gone; the pids
    killed. Stubs ignore SIGTERM: only SIGKILL ends them once their server is gone."""
    victims = procfs.with_argument(shm_prefix.encode())
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout_s
    while any(procfs.alive(pid) for pid in victims) and time.monotonic() < deadline:
        time.sleep(0.02)
    return victims


def clean_up_after_dead_launchers(address: str, ports: tuple[int, ...]) -> list[Record]:
    """End what launchers that died left running on any of ``ports`` (see the module's docstring); the records
    cleaned up."""
    folder = runtime_dir()
    if folder is None:
        return []
    cleaned = []
    for path in folder.glob("*.json"):
        record = Record.read(path)
        if record is None or record.address != address or not set(record.ports) & set(ports):
            continue
        if procfs.alive(record.launcher_pid, record.launcher_started):
            continue  # its launcher runs: the ports are in use
        killed = end_processes(record.shm_prefix)
        if killed:
            log.warning("ended %d processes (tritonserver %d and its stubs) left by a launcher that died (pid %d)",
                        len(killed), record.server_pid, record.launcher_pid)
        remove_shm_regions(record.shm_prefix)
        path.unlink(missing_ok=True)
        cleaned.append(record)
    return cleaned
