"""The launcher command (``python -m triton_speech.server``) run as a user runs it, and the processes it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from triton_speech.server import procfs


def environment(ports) -> dict[str, str]:
    """This environment with the launcher's ports set, and no TRITON_ADMIN_KEY."""
    env = dict(os.environ, TRITON_HTTP_PORT=str(ports.http), TRITON_GRPC_PORT=str(ports.grpc),
               TRITON_METRICS_PORT=str(ports.metrics))
    env.pop("TRITON_ADMIN_KEY", None)
    return env


def command(repository: Path | str, *args: str) -> list[str]:
    return [sys.executable, "-m", "triton_speech.server", "--model-repository", str(repository), *args]


def serve(repository: Path | str, ports, **env: str) -> subprocess.Popen:
    """``python -m triton_speech.server`` on ``ports`` (no TRITON_ADMIN_KEY unless given), once it says it is
    ready."""
    launcher = subprocess.Popen(command(repository), env={**environment(ports), **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    for line in launcher.stdout:
        if line.startswith("Triton is ready"):
            return launcher
    launcher.wait()
    pytest.fail(f"the launcher exited with {launcher.returncode}:\n{launcher.stderr.read()}")


def server_of(launcher: subprocess.Popen) -> tuple[int, str]:
    """(tritonserver's pid, its shm prefix): the launcher's child."""
    marker = b"shm-region-prefix-name="
    for pid in procfs.with_argument(marker):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if argv[0].endswith(b"tritonserver") and procfs._stat_fields(pid)[1] == str(launcher.pid):
            prefix = next(a for a in argv if marker in a).split(marker)[1].decode()
            assert prefix.startswith("triton_speech_")
            return pid, prefix
    raise AssertionError("the launcher has no tritonserver")


def stop(launcher: subprocess.Popen) -> None:
    """SIGTERM, as Ctrl-C or a service manager stops it: a clean exit."""
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=90) == 0, launcher.stderr.read()
