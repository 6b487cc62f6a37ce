"""The media directory: uploaded recordings and synthesized speech, one file per stored row.

File names are made here (a random hex name and the suffix of the format found), never taken from a client,
and a name read back from the database is checked again before it becomes a path: nothing outside the media
directory can be read, written or deleted through a stored name.

A file is written before its row and removed after it, so a crash (or a failed insert) can leave a file that no
row names, never a row without its file. ``sweep`` removes such files: a file still being written holds a lock
(``flock``) until its row is committed, so the sweep never takes a file another request or another gateway
process on the same directory is about to name.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("triton_speech.gateway")
KINDS = ("transcriptions", "speech")
PARTIAL = ".partial-"  # a file being written, before its rename to the stored name
# A partial file is locked from a moment after it is made: the sweep leaves younger ones to their writers
PARTIAL_GRACE_S = 60.0
NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{2,4}$")


class MediaStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, name: str) -> Path:
        if kind not in KINDS or not NAME.fullmatch(name):
            raise ValueError(f"not a stored media name: {kind}/{name!r}")
        return self.root / kind / name

    @contextmanager
    def saving(self, kind: str, data: bytes, suffix: str) -> Iterator[str]:
        """Write ``data`` under a new name (yielded) and hold the file's lock while the caller stores its row; the
        file appears whole or not at all, and is removed again when the caller fails."""
        name = secrets.token_hex(16) + suffix
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

    def save(self, kind: str, data: bytes, suffix: str) -> str:
        """Write ``data`` under a new name (returned)."""
        with self.saving(kind, data, suffix) as name:
            return name

    def delete(self, kind: str, name: str) -> None:
        self.path(kind, name).unlink(missing_ok=True)

    def files(self, kind: str) -> list[str]:
        return sorted(p.name for p in (self.root / kind).iterdir() if NAME.fullmatch(p.name))

    def sweep(self, kind: str, is_named: Callable[[str], bool]) -> list[str]:
        """Remove the files of ``kind`` that no row names (``is_named(name)`` asks the database) and that nobody is
        writing, and partial files left by a crash; returns their names."""
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
        if removed:
            log.warning("removed %d %s files no row names (left by a crash): %s", len(removed), kind,
                        ", ".join(removed))
        return removed
