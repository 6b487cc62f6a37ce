"""The Triton replicas: each the launcher (``python -m triton_speech.server``, as each pod of the Helm chart runs
it) on ports of its own on loopback, serving the same model repository; ready when ``/v2/health/ready`` says so
(every model loaded and warmed up)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from triton_speech.fleet.balancer import Replica
from triton_speech.fleet.children import Child, free_port, http_ok
from triton_speech.server import Ports, procfs


def new_ports() -> Ports:
    return Ports(http=free_port(), grpc=free_port(), metrics=free_port())


@dataclass
class TritonReplica(Child):
    ports: Ports | None = None

    @property
    def balanced(self) -> Replica:
        return Replica(http=self.ports.http, grpc=self.ports.grpc)

    def tritonserver(self) -> int | None:
        """The running ``tritonserver`` the replica's launcher started, if any."""
        if not self.running():
            return None
        for pid in procfs.descendants(self.pid):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"tritonserver"):
                    return pid
            except OSError:
                continue
        return None


def triton_replica(index: int, repository: str, ports: Ports, run_dir: Path, env: dict[str, str]) -> TritonReplica:
    """The launcher of replica ``index`` with its server's log and admin key file in ``run_dir/triton-INDEX/``
    (an admin key of its own unless ``TRITON_ADMIN_KEY`` is in ``env``: then all replicas share it)."""
    folder = run_dir / f"triton-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "triton_speech.server", "--model-repository", repository,
               "--log", str(folder / "tritonserver.log"), "--admin-key-file", str(folder / "admin-key")]
    environment = {**env, "TRITON_ADDRESS": "127.0.0.1", "TRITON_HTTP_PORT": str(ports.http),
                   "TRITON_GRPC_PORT": str(ports.grpc), "TRITON_METRICS_PORT": str(ports.metrics)}
    return TritonReplica(f"triton-{index}", command, environment, run_dir / f"triton-{index}.log",
                         http_ok(f"http://127.0.0.1:{ports.http}/v2/health/ready"), ports=ports)
