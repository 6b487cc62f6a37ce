"""API keys: made once and shown once, kept only as digests, verified, revoked; the local key of ``make app``; the
``keys`` commands. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys

import pytest

from tests.support.gateway import read_rows
from triton_speech.gateway.database import Database
from triton_speech.gateway.keys import ANONYMOUS, KeyProblem, KeyStore, bearer_token


@pytest.fixture()
def store(database_url):
    database = Database(database_url)
    database.migrate()
    yield KeyStore(database)
    database.close()


def test_a_key_is_random_shown_once_and_kept_as_its_digest(store, database_url):
    row, key = store.create("alice")
    other = store.create("bob")[1]
    assert key.startswith("tsk_") and len(key) == 47 and key != other
    (stored, _) = read_rows(database_url, "api_keys")
    assert stored["digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(read_rows(database_url, "api_keys"))  # the key itself is nowhere in the database
    assert stored["prefix"] == key[:10] and stored["name"] == "alice" and stored["revoked_at"] is None
    assert store.verify(key).name == "alice" and store.verify(key).key_id == row.id
    assert store.verify(other).name == "bob"


@pytest.mark.parametrize("key", ["", "tsk_", "tsk_" + "A" * 43, "tsk_" + "A" * 44, "x" * 47, "tsk_" + "é" * 43])
def test_unknown_and_malformed_keys_verify_as_nobody(store, key):
    store.create("alice")
    assert store.verify(key) is None


def test_revoked_keys_verify_as_nobody_and_names_are_reusable_after(store):
    _, first = store.create("alice")
    with pytest.raises(KeyProblem, match="a key named 'alice' exists"):
        store.create("alice")
    assert store.revoke("alice").revoked_at is not None
    assert store.verify(first) is None
    row, second = store.create("alice")
    assert store.verify(second).key_id == row.id
    store.revoke(str(row.id))  # by id
    assert store.verify(second) is None
    with pytest.raises(KeyProblem, match="no key 'alice' that is not revoked"):
        store.revoke("alice")


@pytest.mark.parametrize("name", ["", " alice", "a" * 65, "al ice", "../x", "alice\n", "-x"])
def test_key_names_are_plain(store, name):
    with pytest.raises(KeyProblem, match="a key's name is"):
        store.create(name)


@pytest.mark.parametrize("header, key", [
    ("Bearer tsk_abc", "tsk_abc"), ("bearer  tsk_abc ", "tsk_abc"), ("Bearer", None), ("Bearer a b", None),
    ("Basic tsk_abc", None), ("tsk_abc", None), ("", None),
])
def test_bearer_tokens(header, key):
    assert bearer_token(header) == key


def test_the_local_key_is_kept_private_and_reused(store, tmp_path):
    path = tmp_path / "app" / "local-api-key"
    first = store.local_key(path)
    assert store.verify(first).name == "local"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().strip() == first
    assert store.local_key(path) == first  # the next make app reuses it
    store.revoke("local")
    second = store.local_key(path)  # a revoked (or lost) one is replaced
    assert second != first and store.verify(second).name == "local"
    path.unlink()
    third = store.local_key(path)
    assert store.verify(second) is None and store.verify(third) is not None  # the lost one is revoked


def test_the_anonymous_caller_has_no_key():
    assert ANONYMOUS.key_id is None


def keys_command(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triton_speech.gateway", "keys", *args], capture_output=True,
                          text=True, env={**os.environ, "DATABASE_URL": database_url}, timeout=120)


def test_keys_commands_create_list_and_revoke(database_url):
    created = keys_command(database_url, "create", "ci-runner")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert "shown only now" in created.stderr
    database = Database(database_url)
    try:
        store = KeyStore(database)
        assert store.verify(key).name == "ci-runner"
        listed = keys_command(database_url, "list")
        assert listed.returncode == 0 and "ci-runner" in listed.stdout and key[:10] in listed.stdout
        assert key not in listed.stdout
        assert keys_command(database_url, "revoke", "ci-runner").returncode == 0
        assert store.verify(key) is None
        assert "revoked" in keys_command(database_url, "list").stdout
    finally:
        database.close()
    again = keys_command(database_url, "revoke", "ci-runner")
    assert again.returncode == 1 and "no key 'ci-runner' that is not revoked" in again.stderr
    assert keys_command(database_url, "create", "bad name").returncode == 1
