"""The media directory: uploaded recordings and synthesized speech, one file per stored row.

File names are made here (a random hex name and the suffix of the format found), never taken from a client,
and a name read back from the database is checked again before it becomes a path: nothing outside the media
directory can be read, written or deleted through a stored name.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

KINDS = ("transcriptions", "speech")
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

    def save(self, kind: str, data: bytes, suffix: str) -> str:
        """Write ``data`` under a new name (returned); the file appears whole or not at all."""
        name = secrets.token_hex(16) + suffix
        target = self.path(kind, name)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def delete(self, kind: str, name: str) -> None:
        self.path(kind, name).unlink(missing_ok=True)

    def files(self, kind: str) -> list[str]:
        return sorted(p.name for p in (self.root / kind).iterdir() if NAME.fullmatch(p.name))
