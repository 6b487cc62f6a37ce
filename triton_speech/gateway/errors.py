"""Every answer other than success in one shape (OpenAI's ``{"error": {"message", "type", "param", "code"}}``),
with a message for the person or program that asked, and logged with the request's id."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from triton_speech.client.connection import InferenceError, ServerUnavailable

log = logging.getLogger("triton_speech.gateway")
# The database cannot be reached (stopped, restarting, refusing connections, every pooled connection busy): the
# request may succeed later, so 503 rather than 500.
DATABASE_AWAY = (OperationalError, InterfaceError, PoolTimeout)
DATABASE_AWAY_MESSAGE = "the database cannot be reached now, try again shortly"


class APIError(Exception):
    """An answer other than success, with a message for the person or program that asked."""

    def __init__(self, status: int, message: str, param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers


def error_response(status: int, message: str, param: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    (log.warning if status >= 500 else log.info)("%d: %s", status, message)
    return JSONResponse(error_body(status, message, param), status, headers=headers)


def error_body(status: int, message: str, param: str | None = None) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


# A WebSocket's refusal or failure: the error as a message ({"type": "error", "error": {...}} in the shape above),
# then the close, its code 4000 + the HTTP status that means the same (4401 no key, 4429 too many, ...) and a short
# reason (a close frame carries at most 123 bytes of it).
CLOSE_CODE_BASE = 4000
MAX_CLOSE_REASON_BYTES = 123


def websocket_error(status: int, message: str) -> tuple[str, int, str]:
    """The error message's text, the close code and the close reason of a WebSocket's refusal or failure."""
    (log.warning if status >= 500 else log.info)("%d: %s", status, message)
    text = json.dumps({"type": "error", **error_body(status, message)})
    reason = message.encode()[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")
    return text, CLOSE_CODE_BASE + status, reason


@contextmanager
def triton_errors():
    """Triton's answers as the gateway's: bad input 400 (Triton's message names the problem), Triton away 503."""
    try:
        yield
    except ServerUnavailable as error:
        raise APIError(503, f"the speech server cannot take requests now, try again shortly: {error}") from None
    except InferenceError as error:
        if error.bad_input:
            raise APIError(400, str(error)) from None
        log.error("Triton failed: %s", error)
        raise APIError(502, f"the speech server failed: {error}") from None


def validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    """The problems of a request pydantic refused, one sentence each, and the first parameter named."""
    problems, param = [], None
    for problem in error.errors():
        location = [str(part) for part in problem["loc"] if part not in ("body", "query", "path")]
        param = param or (location[0] if location else None)
        if problem["type"] == "missing" and location == ["file"]:
            problems.append("send the recording as the multipart form field 'file'")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            problems.append(f"{'.'.join(location) or 'body'}: {message}")
    return "; ".join(problems), param


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, error: APIError):
        return error_response(error.status, error.message, error.param, error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException):
        return error_response(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError):
        return error_response(400, *validation_message(error))

    for kind in DATABASE_AWAY:
        @app.exception_handler(kind)
        async def database_away(_request: Request, error: Exception):
            log.warning("database error: %s", str(error).splitlines()[0])
            return error_response(503, DATABASE_AWAY_MESSAGE)
