"""Where the gateway keeps uploaded recordings and synthesized speech, one file per stored row: a directory
(``APP_MEDIA_DIR``, ``MediaDirectory``) or a bucket of an S3 API (``APP_MEDIA_URL=s3://bucket/prefix``,
``MediaBucket``), behind one interface (``MediaStore``).

Names are made here (a random hex name and the suffix of the format found), never taken from a client, and a name
read back from the database is checked again before it is used: nothing outside the store's directory or prefix can
be read, written or deleted through a stored name.

A file is written before its row and removed after it, so a crash (or a failed insert) can leave a file that no
row names, never a row without its file. ``sweep`` (at every gateway's start) removes such files, but never one
that another request or another gateway sharing the store is about to name: in a directory, a file still being
written holds a lock (``flock``) until its row is committed; in a bucket, which has no locks, only objects older
than a grace period (``APP_MEDIA_SWEEP_GRACE_SECONDS``, 5 minutes) are swept, far longer than a write and its row
take (the database gives up connecting within seconds).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from fastapi.responses import FileResponse, Response, StreamingResponse

from triton_speech import defaults
from triton_speech.server.repository import S3Location, s3_errors

log = logging.getLogger("triton_speech.gateway")
KINDS = ("transcriptions", "speech")
PARTIAL = ".partial-"  # a file being written, before its rename to the stored name
# A partial file is locked from a moment after it is made: the sweep leaves younger ones to their writers
PARTIAL_GRACE_S = 60.0
NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{2,4}$")


class MediaError(RuntimeError):
    """The media store cannot be used (a bucket that is missing, refuses the credentials, or does not answer)."""


def checked(kind: str, name: str) -> str:
    """``kind/name`` of a stored file; ValueError for a kind or name the store does not make."""
    if kind not in KINDS or not NAME.fullmatch(name):
        raise ValueError(f"not a stored media name: {kind}/{name!r}")
    return f"{kind}/{name}"


def new_name(suffix: str) -> str:
    return secrets.token_hex(16) + suffix


class MediaStore(ABC):
    """One file per stored row: ``saving`` (the file, then the caller's row), ``delete``, ``files``, ``sweep`` and
    ``response`` (the file as an HTTP answer)."""

    location: str  # for people: where the files are

    @abstractmethod
    def saving(self, kind: str, data: bytes, suffix: str) -> AbstractContextManager[str]:
        """Write ``data`` under a new name (yielded) while the caller stores its row; the file appears whole or not
        at all, and is removed again when the caller fails."""

    def save(self, kind: str, data: bytes, suffix: str) -> str:
        """Write ``data`` under a new name (returned)."""
        with self.saving(kind, data, suffix) as name:
            return name

    @abstractmethod
    def delete(self, kind: str, name: str) -> None:
        """Remove a file (nothing to do when it is gone)."""

    @abstractmethod
    def files(self, kind: str) -> list[str]:
        """The stored names of ``kind``, sorted."""

    @abstractmethod
    def sweep(self, kind: str, is_named: Callable[[str], bool]) -> list[str]:
        """Remove the files of ``kind`` that no row names (``is_named(name)`` asks the database) and that nobody is
        about to name; returns their names."""

    @abstractmethod
    def response(self, kind: str, name: str, media_type: str) -> Response:
        """The file as an HTTP answer (call it from a worker thread: it may read)."""


def _swept(kind: str, removed: list[str]) -> list[str]:
    if removed:
        log.warning("removed %d %s files no row names (left by a crash): %s", len(removed), kind,
                    ", ".join(removed))
    return removed


class MediaDirectory(MediaStore):
    """Files in a directory (``APP_MEDIA_DIR``); gateways sharing one must share its file system."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.location = f"{self.root}/"
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, name: str) -> Path:
        return self.root / checked(kind, name)

    @contextmanager
    def saving(self, kind: str, data: bytes, suffix: str) -> Iterator[str]:
        """As MediaStore's, holding the file's lock while the caller stores its row."""
        name = new_name(suffix)
        target = self.path(kind, name)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL)
        with os.fdopen(descriptor, "wb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(data)
                handle.flush()
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            try:
                yield name
            except BaseException:
                target.unlink(missing_ok=True)
                raise

    def delete(self, kind: str, name: str) -> None:
        self.path(kind, name).unlink(missing_ok=True)

    def files(self, kind: str) -> list[str]:
        return sorted(p.name for p in (self.root / kind).iterdir() if NAME.fullmatch(p.name))

    def sweep(self, kind: str, is_named: Callable[[str], bool]) -> list[str]:
        """As MediaStore's, and partial files left by a crash; a file being written is locked."""
        removed = []
        for path in sorted((self.root / kind).iterdir()):
            partial = path.name.startswith(PARTIAL)
            if partial and time.time() - path.stat().st_mtime < PARTIAL_GRACE_S:
                continue
            if not (NAME.fullmatch(path.name) or partial) or is_named(path.name):
                continue
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # being written: its row is on its way
                # the writer may have stored its row and let go between the first question and the lock
                if partial or not is_named(path.name):
                    path.unlink(missing_ok=True)
                    removed.append(path.name)
        return _swept(kind, removed)

    def response(self, kind: str, name: str, media_type: str) -> Response:
        return FileResponse(self.path(kind, name), media_type=media_type)


# Bytes read at a time from a bucket's object into the answer
CHUNK_BYTES = 1 << 16


class MediaBucket(MediaStore):
    """Objects in a bucket of an S3 API (``APP_MEDIA_URL=s3://bucket/prefix``; ``AWS_ENDPOINT_URL`` for a server
    other than AWS, credentials from the AWS_* variables), under ``prefix/transcriptions/`` and ``prefix/speech/``.
    A put is atomic: an object is whole or absent. ``grace_s``: how old an object no row names must be before the
    sweep removes it."""

    def __init__(self, url: str, grace_s: float = defaults.MEDIA_SWEEP_GRACE_SECONDS, client=None):
        if not url.startswith("s3://"):
            raise MediaError(f"APP_MEDIA_URL must be an s3:// URL (s3://bucket/prefix), got {url!r}")
        self.bucket_location, self.grace_s, self.location = S3Location.parse(url), grace_s, url
        self.bucket = self.bucket_location.bucket
        self.client = client or self.bucket_location.client()
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except s3_errors() as error:
            raise MediaError(f"cannot use the media bucket {url}: {error}") from None

    def key(self, kind: str, name: str) -> str:
        return self.bucket_location.key(checked(kind, name))

    @contextmanager
    def saving(self, kind: str, data: bytes, suffix: str) -> Iterator[str]:
        name = new_name(suffix)
        key = self.key(kind, name)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        try:
            yield name
        except BaseException:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise

    def delete(self, kind: str, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(kind, name))

    def _objects(self, kind: str) -> Iterator[tuple[str, datetime]]:
        """(name, last modified) of the objects under the kind's prefix that have a stored name."""
        start = self.bucket_location.key(f"{kind}/")
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                name = item["Key"][len(start):]
                if NAME.fullmatch(name):
                    yield name, item["LastModified"]

    def files(self, kind: str) -> list[str]:
        return sorted(name for name, _ in self._objects(kind))

    def sweep(self, kind: str, is_named: Callable[[str], bool]) -> list[str]:
        """As MediaStore's: objects younger than ``grace_s`` may be a write whose row is on its way, and stay."""
        now = datetime.now(timezone.utc)
        removed = []
        for name, modified in self._objects(kind):
            if (now - modified).total_seconds() >= self.grace_s and not is_named(name):
                self.delete(kind, name)
                removed.append(name)
        return _swept(kind, removed)

    def response(self, kind: str, name: str, media_type: str) -> Response:
        stored = self.client.get_object(Bucket=self.bucket, Key=self.key(kind, name))
        return StreamingResponse(stored["Body"].iter_chunks(CHUNK_BYTES), media_type=media_type,
                                 headers={"Content-Length": str(stored["ContentLength"])})


def media_store(url: str | None, directory: str | Path, grace_s: float = defaults.MEDIA_SWEEP_GRACE_SECONDS
                ) -> MediaStore:
    """The bucket of ``url`` (APP_MEDIA_URL) when given, else the directory (APP_MEDIA_DIR)."""
    return MediaBucket(url, grace_s) if url else MediaDirectory(directory)
