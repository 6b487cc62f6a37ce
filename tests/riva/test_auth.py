"""API keys from the gRPC metadata: ``bearer(check_key)`` over a fake key store, sync and async."""

from __future__ import annotations

import asyncio
import threading

import pytest

from triton_speech.riva.auth import Unauthenticated, anonymous, bearer

KEYS = {"k-alice": "alice"}


def test_a_valid_key_gives_its_owner_and_sync_stores_run_off_the_event_loop():
    threads = []

    def check_key(key: str):
        threads.append(threading.current_thread())
        return KEYS.get(key)

    authenticate = bearer(check_key)
    assert asyncio.run(authenticate([("user-agent", "x"), ("authorization", "Bearer k-alice")])) == "alice"
    assert asyncio.run(authenticate([("authorization", b"bearer  k-alice ")])) == "alice"  # bytes, case, spaces
    assert threads and threading.main_thread() not in threads


def test_async_key_checks_are_awaited():
    async def check_key(key: str):
        await asyncio.sleep(0)
        return KEYS.get(key)

    assert asyncio.run(bearer(check_key)([("authorization", "Bearer k-alice")])) == "alice"


@pytest.mark.parametrize("metadata, message", [
    ([], "this server needs an API key: send the gRPC metadata 'authorization: Bearer KEY'"),
    ([("authorization", "Bearer wrong")], "the API key is not valid"),
    ([("authorization", "Basic k-alice")], "must be 'Bearer KEY'"),
    ([("authorization", "Bearer ")], "must be 'Bearer KEY'"),
])
def test_missing_wrong_or_malformed_keys_are_refused(metadata, message):
    with pytest.raises(Unauthenticated, match=message):
        asyncio.run(bearer(KEYS.get)(metadata))


def test_anonymous_lets_everyone_in():
    assert asyncio.run(anonymous([])) is None
