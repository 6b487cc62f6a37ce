"""API keys: who is asking. A key is a random token shown once when it is made; the database keeps only its SHA-256
digest (a key has 256 random bits, so a fast digest cannot be searched back), its name and when it was made or
revoked. ``KeyStore.verify`` is all a server needs to admit a caller: the REST gateway and the web page use it
(``Authorization: Bearer KEY``), and so can any other endpoint in front of the same database.

    python -m triton_speech.gateway keys create NAME    # prints the new key, once
    python -m triton_speech.gateway keys list
    python -m triton_speech.gateway keys revoke NAME|ID
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from triton_speech.gateway.database import ApiKey, Database

KEY_PREFIX = "tsk_"
KEY = re.compile(r"^tsk_[A-Za-z0-9_-]{43}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
LOCAL_KEY_NAME = "local"


class KeyProblem(ValueError):
    """A key that cannot be made or revoked as asked; the message says why."""


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a key's id and name, or the anonymous caller (``key_id`` None) when the gateway
    admits requests without a key."""

    key_id: int | None
    name: str


ANONYMOUS = Caller(None, "anonymous")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header value; None when the header says something else."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


class KeyStore:
    """Keys in the gateway's database (the ``api_keys`` table)."""

    def __init__(self, database: Database):
        self.database = database

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key named ``name`` (unique among the keys not revoked): its row and the key itself, which is
        stored nowhere."""
        if not NAME.fullmatch(name):
            raise KeyProblem(f"a key's name is 1-64 letters, digits or ._@- (starting with a letter or digit): "
                            f"{name!r}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.database.sessions.begin() as session:
            if session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))) is not None:
                raise KeyProblem(f"a key named {name!r} exists: revoke it first, or choose another name")
            row = ApiKey(name=name, digest=digest(key), prefix=key[: len(KEY_PREFIX) + 6])
            session.add(row)
        return row, key

    def list(self) -> list[ApiKey]:
        with self.database.sessions() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the key not yet revoked with this name, or with this id; its stored results stay its own (no
        other key can reach them)."""
        column = ApiKey.id if name_or_id.isdigit() else ApiKey.name
        value = int(name_or_id) if name_or_id.isdigit() else name_or_id
        with self.database.sessions.begin() as session:
            row = session.scalar(select(ApiKey).where(column == value, ApiKey.revoked_at.is_(None)))
            if row is None:
                raise KeyProblem(f"no key {name_or_id!r} that is not revoked (python -m triton_speech.gateway keys "
                                "list)")
            row.revoked_at = datetime.now(timezone.utc)
        return row

    def verify(self, key: str) -> Caller | None:
        """The caller a key stands for, or None for a key that is unknown or revoked."""
        if not KEY.fullmatch(key):
            return None
        with self.database.sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.digest == digest(key), ApiKey.revoked_at.is_(None)))
            return Caller(row.id, row.name) if row is not None else None

    def local_key(self, path: Path) -> str:
        """The key of a person's local run (``make app``): the one kept in ``path`` while it is valid, else a new key
        named ``local`` (any older one revoked) written there, readable by its owner only."""
        if path.exists():
            kept = path.read_text().strip()
            if self.verify(kept) is not None:
                return kept
        if any(row.name == LOCAL_KEY_NAME and row.revoked_at is None for row in self.list()):
            self.revoke(LOCAL_KEY_NAME)
        _, key = self.create(LOCAL_KEY_NAME)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
        return key
