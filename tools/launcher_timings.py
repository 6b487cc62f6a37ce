"""How the launcher stops and cleans up, timed from outside, as a user sees it.

    python tools/launcher_timings.py --model-repository model_repository [--python .venv/bin/python] [--rounds 1]

Starts ``PYTHON -m triton_speech.server`` (any version of the launcher: ``--python`` picks the environment, hence
the checkout) on free ports, once per measurement, and reports:
- stop: SIGTERM to the launcher until it exits, with no client connected, and with one idle HTTP keep-alive
  connection (a request answered, the connection left open);
- stubs after a killed tritonserver: SIGKILL to tritonserver until none of its python stubs runs;
- processes after a killed launcher: SIGKILL to the launcher until neither tritonserver nor a stub runs.
A process still running after ``--limit`` seconds is reported as such, then killed here.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

from tests.support.ports import free_ports  # noqa: E402


def children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                found.append(int(name))
        except (OSError, IndexError):
            pass
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start(python: str, repository: str):
    ports = free_ports()
    env = dict(os.environ, TRITON_HTTP_PORT=str(ports.http), TRITON_GRPC_PORT=str(ports.grpc),
               TRITON_METRICS_PORT=str(ports.metrics))
    # From /: the interpreter's own environment decides which triton_speech runs, not the current folder.
    launcher = subprocess.Popen([python, "-m", "triton_speech.server", "--model-repository", repository], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd="/")
    for line in launcher.stdout:
        if line.startswith("Triton is ready"):
            server = next(p for p in children(launcher.pid) if b"tritonserver" in
                          Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0])
            return launcher, server, children(server), ports, shm_prefix(server)
    raise SystemExit(f"the launcher exited with {launcher.wait()}")


def shm_prefix(server: int) -> str:
    argument = next(a for a in Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0") if b"shm-region-prefix" in a)
    return argument.split(b"shm-region-prefix-name=")[1].decode()


def remove_shm(prefix: str) -> None:
    for region in Path("/dev/shm").glob(f"{prefix}*"):
        region.unlink(missing_ok=True)


def until_gone(pids: list[int], limit_s: float) -> str:
    started = time.monotonic()
    while any(running(p) for p in pids):
        if time.monotonic() - started > limit_s:
            left = [p for p in pids if running(p)]
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            return f"{len(left)} still running after {limit_s:.0f} s"
        time.sleep(0.01)
    return f"{time.monotonic() - started:.2f} s"


def stop_time(python: str, repository: str, idle_connection: bool, limit_s: float) -> str:
    launcher, server, stubs, ports, prefix = start(python, repository)
    if idle_connection:
        connection = socket.create_connection(("127.0.0.1", ports.http))
        connection.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: triton\r\n\r\n")
        connection.recv(1024)
    launcher.send_signal(signal.SIGTERM)
    took = until_gone([launcher.pid], limit_s)
    launcher.wait()
    until_gone([server, *stubs], 10)
    remove_shm(prefix)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", default="model_repository")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose launcher is timed")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=float, default=60.0)
    args = parser.parse_args()
    repository = str(Path(args.model_repository).resolve())
    rows = []
    for _ in range(args.rounds):
        rows.append(("stop (SIGTERM), no client", stop_time(args.python, repository, False, args.limit)))
        rows.append(("stop (SIGTERM), one idle HTTP keep-alive connection",
                     stop_time(args.python, repository, True, args.limit)))
        launcher, server, stubs, _, prefix = start(args.python, repository)
        os.kill(server, signal.SIGKILL)
        rows.append((f"tritonserver SIGKILLed: its {len(stubs)} stubs gone", until_gone(stubs, args.limit)))
        launcher.wait(timeout=60)
        remove_shm(prefix)
        launcher, server, stubs, _, prefix = start(args.python, repository)
        launcher.kill()
        rows.append((f"launcher SIGKILLed: tritonserver and {len(stubs)} stubs gone",
                     until_gone([server, *stubs], args.limit)))
        remove_shm(prefix)
    print(f"| launcher of {args.python} | time |\n| --- | --- |")
    for what, took in rows:
        print(f"| {what} | {took} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
