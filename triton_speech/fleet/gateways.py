"""The gateways: ``python -m triton_speech.gateway`` processes before the balanced Triton, each on a port of its own on
loopback, sharing one database (``DATABASE_URL``) and one media bucket (``APP_MEDIA_URL``); ready when ``/health``
says so (Triton ready through the balancer, the database answering), as the Helm chart's readiness probe asks."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from triton_speech.fleet.children import Child, http_ok


@dataclass
class Gateway(Child):
    port: int = 0


def gateway(index: int, port: int, triton_url: str, run_dir: Path, env: dict[str, str]) -> Gateway:
    """Gateway ``index`` on ``port``, asking Triton at ``triton_url`` (HOST:GRPC_PORT); ``env`` holds the shared
    settings (DATABASE_URL, APP_MEDIA_URL, the AWS_* variables, ...)."""
    command = [sys.executable, "-m", "triton_speech.gateway", "--triton-url", triton_url, "--host", "127.0.0.1",
               "--port", str(port)]
    return Gateway(f"gateway-{index}", command, {**env, "APP_PORT": str(port)}, run_dir / f"gateway-{index}.log",
                   http_ok(f"http://127.0.0.1:{port}/health"), port=port)
