"""The fleet's object store: an S3 API over HTTP on a loopback port (moto's server, ``moto[server]``, in a process of
its own), holding the model repository the Triton replicas load and the gateways' media.

moto keeps its objects in its process's memory (gone when it stops): it speaks the S3 API well enough for Triton's
S3 client and boto3, which is what the fleet needs, and is no storage for data to keep. No S3 server installs from
Debian; in production the same URLs name AWS S3 or any S3-compatible store.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

from triton_speech.fleet.children import Child, free_port, listening

log = logging.getLogger("triton_speech.fleet")
# moto accepts any credentials; these are what the fleet's processes present (the AWS_* variables Triton and boto3
# read), so that none of them reaches for real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "fleet", "AWS_SECRET_ACCESS_KEY": "fleet", "AWS_DEFAULT_REGION": "us-east-1"}


class ObjectStore:
    """``start()``, ``create_bucket(name)``, ``repository_url(bucket, path)`` (Triton's form) and ``environment()``
    (for boto3 clients and ``s3://bucket/...`` URLs), ``stop()``."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host, self.port = host, port or free_port(host)
        log_path = log_path or Path(tempfile.mkdtemp(prefix="triton-speech-s3-")) / "object-store.log"
        self.process = Child("object-store", [sys.executable, "-m", "moto.server", "-H", host, "-p", str(self.port)],
                             dict(os.environ), log_path, listening(host, self.port), restart=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "ObjectStore":
        self.process.start()
        try:
            self.process.wait_ready(timeout_s, threading.Event())
        except BaseException:
            self.process.stop()
            raise
        log.info("object store (S3 API) at %s", self.endpoint_url)
        return self

    def environment(self) -> dict[str, str]:
        """The credentials and, for boto3 (``AWS_ENDPOINT_URL``), where the store is."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def repository_url(self, bucket: str, path: str) -> str:
        """The URL of a folder in this store as Triton takes it: ``s3://host:port/bucket/path``."""
        return f"s3://{self.host}:{self.port}/{bucket}/{path}"

    def stop(self) -> list[int]:
        """Its objects are gone with it. What of it had to be killed (none when it stops cleanly)."""
        return self.process.stop()

    def __enter__(self) -> "ObjectStore":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
