"""The gateways: ``python -m triton_speech.gateway`` processes before the balanced Triton, each on ports of its own on
loopback (its REST API and its Riva API), sharing one database (``DATABASE_URL``) and one media bucket
(``APP_MEDIA_URL``); ready when ``/health`` says so (Triton ready through the balancer, the database answering), as
the Helm chart's readiness probe asks."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from triton_speech.fleet.balancer import GatewayPorts
from triton_speech.fleet.children import Child, http_ok


@dataclass
class Gateway(Child):
    port: int = 0
    riva_port: int = 0


def gateway(index: int, ports: GatewayPorts, triton_url: str, run_dir: Path, env: dict[str, str]) -> Gateway:
    """Gateway ``index`` on ``ports`` (its REST API and its Riva API), asking Triton at ``triton_url``
    (HOST:GRPC_PORT); ``env`` holds the shared settings (DATABASE_URL, APP_MEDIA_URL, the AWS_* variables, ...)."""
    command = [sys.executable, "-m", "triton_speech.gateway", "--triton-url", triton_url, "--host", "127.0.0.1",
               "--port", str(ports.http)]
    return Gateway(f"gateway-{index}", command, {**env, "APP_PORT": str(ports.http), "RIVA_PORT": str(ports.riva)},
                   run_dir / f"gateway-{index}.log", http_ok(f"http://127.0.0.1:{ports.http}/health"),
                   port=ports.http, riva_port=ports.riva)
