"""Who may reach the API, checked before a request's body is read (ASGI middleware):

- ``HostsAndOrigins``: the ``Host`` header must name this gateway (``APP_ALLOWED_HOSTS``): a page whose name was
  pointed at this address (DNS rebinding) gets 400; a browser request from another origin (its ``Origin``, or
  ``Sec-Fetch-Site`` for the requests that carry no ``Origin``) gets 403 unless that origin is allowed
  (``APP_ALLOWED_ORIGINS``, which also get CORS answers). The page's own requests are same-origin.
- ``Authenticate``: every path but the page, its files, the API documentation and health needs an API key
  (``Authorization: Bearer KEY``; 401 without one or with a bad one) unless ``APP_ANONYMOUS=1`` admits requests
  without a key; then the caller's rate limit (429 with ``Retry-After``).

WebSockets pass the same checks. A browser's WebSocket cannot send headers: its key comes as a subprotocol,
``bearer.KEY``, beside the application's own (never in the address, which lands in logs); a program may send the
header. A WebSocket from an origin not allowed is refused at the handshake (HTTP 403, never upgraded); a missing or
bad key, or the rate limit, is told as an error message on the opened socket, then the close (code 4000 + the
status: 4401, 4429), so that the page can say why.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from triton_speech.gateway.errors import (
    DATABASE_AWAY,
    DATABASE_AWAY_MESSAGE,
    APIError,
    error_response,
    websocket_error,
)
from triton_speech.gateway.keys import ANONYMOUS, KeyStore, bearer_token
from triton_speech.gateway.limits import RateLimit
from triton_speech.gateway.middleware import header

log = logging.getLogger("triton_speech.gateway")
PUBLIC_PATHS = ("/", "/docs", "/openapi.json", "/health", "/health/live")
PUBLIC_FOLDERS = ("/static/", "/docs-static/")
CALLER = "caller"  # the request state's entry: the keys.Caller a request comes from
KEY_SUBPROTOCOL = "bearer."  # a WebSocket's key, as a subprotocol: "bearer.tsk_..."
SCOPES = ("http", "websocket")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_FOLDERS)


def hostname(host: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8080`` -> ``::1``), lower case."""
    return (urlsplit(f"//{host}").hostname or "") if host else ""


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    return any(pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
               for pattern in allowed)


class HostsAndOrigins:
    def __init__(self, app, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]):
        self.app, self.allowed_hosts = app, tuple(host.lower() for host in allowed_hosts)
        self.allowed_origins = tuple(origin.rstrip("/").lower() for origin in allowed_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in SCOPES:
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            return await error_response(*refusal)(scope, receive, send)  # a WebSocket's: before any upgrade
        await receive()
        await send({"type": "websocket.close", "code": 1008})  # a server that cannot say more: a bare 403

    def refusal(self, scope) -> tuple[int, str] | None:
        host = header(scope, b"host") or ""
        if not host_allowed(hostname(host), self.allowed_hosts):
            return 400, f"this gateway does not serve the host {host!r} (APP_ALLOWED_HOSTS)"
        origin = header(scope, b"origin")
        if origin is not None:
            same = urlsplit(origin).netloc.lower() == host.lower()
            if not same and origin.rstrip("/").lower() not in self.allowed_origins:
                return 403, f"requests from the origin {origin!r} are not allowed (APP_ALLOWED_ORIGINS)"
        elif header(scope, b"sec-fetch-site") in ("cross-site", "same-site") and not is_public(scope["path"]):
            # a browser's request from another site that carries no Origin (an <img>, <audio> or <script> source)
            return 403, "requests from other sites are not allowed (APP_ALLOWED_ORIGINS)"
        return None


class Authenticate:
    def __init__(self, app, anonymous: bool, rate_limit: str):
        self.app, self.anonymous, self.rate = app, anonymous, RateLimit(rate_limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in SCOPES or is_public(scope["path"]):
            return await self.app(scope, receive, send)
        try:
            caller = await self.caller(scope)
            retry_after = self.rate.retry_after(caller)
            if retry_after is not None:
                raise self.rate.refusal(retry_after)
        except APIError as error:
            if scope["type"] == "websocket":
                return await refuse_websocket(scope, receive, send, error.status, error.message)
            return await error_response(error.status, error.message, headers=error.headers)(scope, receive, send)
        except DATABASE_AWAY as error:
            log.warning("database error: %s", str(error).splitlines()[0])
            if scope["type"] == "websocket":
                return await refuse_websocket(scope, receive, send, 503, DATABASE_AWAY_MESSAGE)
            return await error_response(503, DATABASE_AWAY_MESSAGE)(scope, receive, send)
        scope.setdefault("state", {})[CALLER] = caller
        await self.app(scope, receive, send)

    async def caller(self, scope):
        authorization = header(scope, b"authorization")
        key = subprotocol_key(scope) if authorization is None else bearer_token(authorization)
        if authorization is None and key is None:
            if self.anonymous:
                return ANONYMOUS
            how = " or as the WebSocket subprotocol 'bearer.KEY'" if scope["type"] == "websocket" else ""
            raise unauthorized(f"an API key is required: send it as 'Authorization: Bearer KEY'{how} (python -m "
                               "triton_speech.gateway keys create NAME makes one)")
        if key is None:
            raise unauthorized("the Authorization header must be 'Bearer KEY'")
        store = KeyStore(scope["app"].state.services.database)
        caller = await run_in_threadpool(store.verify, key)
        if caller is None:
            raise unauthorized("the API key is not valid (unknown or revoked)")
        return caller


def unauthorized(message: str) -> APIError:
    return APIError(401, message, headers={"WWW-Authenticate": "Bearer"})


def subprotocol_key(scope) -> str | None:
    """A WebSocket's key, from its ``bearer.KEY`` subprotocol."""
    for protocol in scope.get("subprotocols", ()) if scope["type"] == "websocket" else ():
        if protocol.startswith(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL):]
    return None


def application_subprotocol(scope) -> str | None:
    """The subprotocol a WebSocket is accepted with: the first the client offered that is not its key (a browser
    drops a socket whose server chooses none of those it offered; the key is never echoed)."""
    offered = [p for p in scope.get("subprotocols", ()) if not p.startswith(KEY_SUBPROTOCOL)]
    return offered[0] if offered else None


async def refuse_websocket(scope, receive, send, status: int, message: str) -> None:
    """Accept, tell the error, close (code 4000 + ``status``)."""
    text, code, reason = websocket_error(status, message)
    if (await receive())["type"] != "websocket.connect":
        return  # gone already
    await send({"type": "websocket.accept", "subprotocol": application_subprotocol(scope)})
    await send({"type": "websocket.send", "text": text})
    await send({"type": "websocket.close", "code": code, "reason": reason})
