"""The admin key: which APIs it guards, the headers that carry it, where it comes from and where it is written."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# API categories a client needs the admin key for: everything that changes what is served (load, unload,
# config overrides), maps memory (shared-memory registration) or changes files and logs (trace, logging). Health,
# metadata, model config, statistics and inference stay open: load testers such as perf_analyzer read the statistics
# (which the metrics port serves to anyone as well).
RESTRICTED_APIS = ("model-repository", "shared-memory", "trace", "logging")
# The header HTTP clients send; gRPC clients send it with Triton's prefix (as metadata).
ADMIN_HEADER = "admin-key"
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"


def admin_key_from_env() -> str:
    """``TRITON_ADMIN_KEY``, or a new random key (32 bytes of entropy) for this server when it is unset or empty."""
    return os.environ.get("TRITON_ADMIN_KEY") or secrets.token_urlsafe(32)


def admin_headers(key: str, protocol: str = "http") -> dict[str, str]:
    """Headers that unlock the restricted APIs: ``client.load_model(name, headers=...)``."""
    return {GRPC_ADMIN_HEADER if protocol == "grpc" else ADMIN_HEADER: key}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created with mode 0600, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, 0o600)
        handle.write(text)
