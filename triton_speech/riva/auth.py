"""Who is calling: the gRPC ``authorization`` metadata (``Bearer KEY``), checked by a key store given at start.

An authenticator takes a call's metadata and returns its owner (any value the key store gives, for the log), or
raises ``Unauthenticated`` with a message for the caller. ``anonymous`` lets everyone in (keys off);
``bearer(check_key)`` asks ``check_key(key)`` (sync or async; a sync one runs in a worker thread, since a key store
may read a database) for the owner of the key, or None.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

Metadata = Sequence[tuple[str, Any]]
HEADER = "authorization"
HOW = ("send the gRPC metadata 'authorization: Bearer KEY' (riva.client: Auth(metadata_args=[['authorization', "
       "'Bearer KEY']]); the scripts: --metadata authorization 'Bearer KEY')")


class Unauthenticated(Exception):
    """The call carries no valid API key; the message tells the caller what to send."""


class Authenticator(Protocol):
    async def __call__(self, metadata: Metadata) -> Any: ...


async def anonymous(metadata: Metadata) -> None:
    """Keys off: every call is let in, owned by nobody."""
    return None


def bearer(check_key: Callable[[str], Any | Awaitable[Any]]) -> Authenticator:
    """An authenticator over a key store: ``check_key(key)`` returns the key's owner, or None for no such key."""
    synchronous = not inspect.iscoroutinefunction(check_key)

    async def authenticate(metadata: Metadata) -> Any:
        values = [value for key, value in metadata if key.lower() == HEADER]
        if not values:
            raise Unauthenticated(f"this server needs an API key: {HOW}")
        value = values[0].decode("latin-1") if isinstance(values[0], bytes) else str(values[0])
        scheme, _, key = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated(f"the authorization metadata must be 'Bearer KEY': {HOW}")
        owner = await (asyncio.to_thread(check_key, key.strip()) if synchronous else check_key(key.strip()))
        if owner is None:
            raise Unauthenticated("the API key is not valid (unknown or revoked)")
        return owner

    return authenticate
