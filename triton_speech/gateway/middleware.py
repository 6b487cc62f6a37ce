"""ASGI middleware around every request: its id, its log line, the body limit and the last word on errors."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from triton_speech.gateway.errors import APIError, error_response

log = logging.getLogger("triton_speech.gateway")
REQUEST_ID_HEADER = "x-request-id"
# A client's own request id is kept when it is short and plain (it goes into logs); otherwise a new one is made.
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Room for the multipart boundaries and the form's small fields on top of the file itself.
MULTIPART_SLACK_BYTES = 64 * 1024
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def install_log_record_factory() -> None:
    """Give every log record of this process a ``request_id`` (``-`` outside requests), for the log format."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    factory.adds_request_id = True
    logging.setLogRecordFactory(factory)


def header(scope, name: bytes) -> str | None:
    value = dict(scope["headers"]).get(name)
    return value.decode("latin-1") if value is not None else None


def new_request_id(scope) -> str:
    """The client's ``X-Request-ID`` when plain, else a new one."""
    given = header(scope, REQUEST_ID_HEADER.encode()) or ""
    return given if CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    """A request id per request (the client's ``X-Request-ID`` if plain, else a new one) in the logs and the
    answer's header; one log line per request, written before the answer's last byte is sent (so a client that has
    its answer finds the line in the log); the body limit: a request larger than ``max_body_bytes`` is answered 413
    without being read further; and any error nothing else answered becomes a logged 500 in the JSON error shape."""

    def __init__(self, app, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await self.websocket(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = new_request_id(scope)
        token = request_id.set(rid)
        started, status, logged, received, too_large = time.perf_counter(), 0, False, 0, False
        declared = header(scope, b"content-length") or ""
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = True

        def log_request():
            nonlocal logged
            if not logged:
                logged = True
                log.info("%s %s -> %s in %.1f ms", scope["method"], scope["path"], status,
                         (time.perf_counter() - started) * 1000)

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                too_large = True
                raise APIError(413, self._too_large_message())
            return message

        async def answer(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (REQUEST_ID_HEADER.encode(), rid.encode()),
                                                  (b"x-content-type-options", b"nosniff")]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                log_request()
            await send(message)

        async def error_answer(status: int, message: str, param: str | None = None):
            await error_response(status, message, param)(scope, receive, answer)

        async def send_or_replace(message):
            # Once the body went over the limit, whatever the app says about its unreadable body becomes the 413.
            if not too_large:
                await answer(message)
            elif message["type"] == "http.response.start" and not status:
                await error_answer(413, self._too_large_message(), "file")

        try:
            if too_large:  # declared too large: never read, so never spooled to disk
                await error_answer(413, self._too_large_message(), "file")
            else:
                await self.app(scope, limited_receive, send_or_replace)
        except Exception:
            if status:  # the answer has begun: nothing more can be said to the client
                log.exception("error after the answer began")
            elif too_large:
                await error_answer(413, self._too_large_message(), "file")
            else:
                log.exception("unexpected error")
                await error_answer(500, "the gateway failed to answer this request (its log has the details)")
        finally:
            log_request()
            request_id.reset(token)

    async def websocket(self, scope, receive, send):
        """A WebSocket's id (for its log lines and its Triton requests) and one line when it ends: how it closed
        (its close code, or the status of a refused handshake) and how long it was open."""
        token = request_id.set(new_request_id(scope))
        started, ended = time.perf_counter(), "open"

        async def heard():
            nonlocal ended
            message = await receive()
            if message["type"] == "websocket.disconnect" and ended == "open":
                ended = f"closed by the client {message.get('code', 1005)}"
            return message

        async def watched(message):
            nonlocal ended
            if message["type"] == "websocket.close" and ended == "open":
                ended = f"closed {message.get('code', 1000)}"
            elif message["type"] == "websocket.http.response.start":
                ended = f"refused {message['status']}"
            await send(message)

        try:
            await self.app(scope, heard, watched)
        except Exception:
            log.exception("unexpected error")
            raise
        finally:
            log.info("WEBSOCKET %s -> %s in %.1f ms", scope["path"], ended, (time.perf_counter() - started) * 1000)
            request_id.reset(token)

    def _too_large_message(self) -> str:
        return f"the request is larger than the {self.max_body_bytes - MULTIPART_SLACK_BYTES} bytes allowed"
