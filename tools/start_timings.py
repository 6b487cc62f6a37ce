"""How long a replica takes from its start to ready (what an autoscaler waits for), timed from outside.

    python tools/start_timings.py --model-repository model_repository [--rounds 3] [--object-store]

Starts ``python -m triton_speech.server`` on free ports, once per round, and reports the seconds from the start to
``/v2/health/ready`` answering 200 (every model loaded and, where the build has it, warmed up), then stops it. With
``--object-store`` the repository is first uploaded to a local S3 API (moto's server) and loaded from there, as the
fleet's replicas and the Helm chart's pods load it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

from triton_speech.fleet.objectstore import CREDENTIALS, ObjectStore  # noqa: E402
from triton_speech.fleet.replicas import new_ports  # noqa: E402
from triton_speech.server.repository import upload  # noqa: E402


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_to_ready(repository: str, env: dict[str, str], limit_s: float) -> float:
    ports = new_ports()
    environment = {**env, "TRITON_HTTP_PORT": str(ports.http), "TRITON_GRPC_PORT": str(ports.grpc),
                   "TRITON_METRICS_PORT": str(ports.metrics)}
    started = time.monotonic()
    launcher = subprocess.Popen([sys.executable, "-m", "triton_speech.server", "--model-repository", repository],
                                env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready(ports.http):
            if launcher.poll() is not None or time.monotonic() - started > limit_s:
                raise SystemExit(f"the launcher did not get ready (exit code {launcher.poll()})")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        launcher.terminate()
        launcher.wait(120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--object-store", action="store_true", help="load it from a local S3 API")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a start may take")
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("TRITON_ADMIN_KEY", None)
    store = None
    repository = str(args.model_repository)
    if args.object_store:
        store = ObjectStore().start()
        store.create_bucket("models")
        repository = store.repository_url("models", "repository")
        upload(args.model_repository, repository, client=store.client())
        env.update(CREDENTIALS)
    try:
        seconds = [start_to_ready(repository, env, args.limit) for _ in range(args.rounds)]
    finally:
        if store is not None:
            store.stop()
    where = "a local S3 API" if args.object_store else "a folder"
    print(f"start to ready from {where}: " + ", ".join(f"{s:.1f} s" for s in seconds)
          + f" (median {statistics.median(seconds):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
