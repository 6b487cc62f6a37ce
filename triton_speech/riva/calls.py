"""Every call of the endpoint: authenticated first, its failures answered as the gRPC status codes a Riva client
expects (INVALID_ARGUMENT naming the problem, UNAVAILABLE while Triton is away, UNAUTHENTICATED), and logged."""

from __future__ import annotations

import functools
import inspect
import logging
import time

import grpc
from tritonclient.utils import InferenceServerException

from triton_speech.client.connection import TRANSIENT_MESSAGES, InferenceError, ServerUnavailable, ServerUnreachable
from triton_speech.riva.auth import Authenticator, Unauthenticated
from triton_speech.runtime.errors import InputError

log = logging.getLogger("triton_speech.riva")


class RivaError(Exception):
    """A call's answer as a gRPC status: ``code`` and a message for the person using the Riva client."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RivaError:
    return RivaError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_language(code: str, served: str, what: str) -> None:
    """Empty means the served language; anything else must be it."""
    if code and code.lower() != served.lower():
        raise invalid(f"language_code {code!r} is not served: this server {what} {served} only (or leave "
                      "language_code empty)")


def request_id(request):
    """The request's id, echoed in its answers (None: unset)."""
    return request.id if request.HasField("id") else None


def unavailable(url: str, detail: str) -> RivaError:
    return RivaError(grpc.StatusCode.UNAVAILABLE,
                     f"the speech models are not available (Triton at {url}: {detail}); try again shortly")


def from_triton(error: Exception, url: str) -> RivaError:
    """The status for a failed Triton request: its refusal of bad input passed through as INVALID_ARGUMENT."""
    if isinstance(error, (ServerUnavailable, ServerUnreachable)):
        return unavailable(url, str(error))
    if isinstance(error, InferenceError):
        if error.bad_input:
            return invalid(str(error))
        if error.status is None:
            return from_stream_message(str(error), url)
        return RivaError(grpc.StatusCode.INTERNAL, f"the speech models failed: {error}")
    if isinstance(error, InferenceServerException):
        if error.status() is None:
            return from_stream_message(error.message(), url)
        status = error.status()
        if status == "StatusCode.UNAVAILABLE" or any(m in error.message() for m in TRANSIENT_MESSAGES):
            return unavailable(url, error.message())
        if status == "StatusCode.INVALID_ARGUMENT":
            return invalid(error.message())
        return RivaError(grpc.StatusCode.INTERNAL, f"the speech models failed: {error.message()}")
    if isinstance(error, grpc.RpcError):  # the stream to Triton itself broke
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return unavailable(url, error.details() or error.code().name)
        return RivaError(grpc.StatusCode.INTERNAL, f"the stream to the speech models failed: {error.details()}")
    raise TypeError(f"not a Triton error: {error!r}")


def from_stream_message(message: str, url: str) -> RivaError:
    """A streamed response's error carries a message only: the models' own faults say "internal error", a model
    reloading says so in TRANSIENT_MESSAGES; the rest are refusals of the request (a model's INVALID_ARG)."""
    if any(m in message for m in TRANSIENT_MESSAGES):
        return unavailable(url, message)
    if message.startswith("internal error"):
        return RivaError(grpc.StatusCode.INTERNAL, f"the speech models failed: {message}")
    return invalid(message)


def status_of(error: Exception) -> RivaError:
    """The answer to any exception a call raised."""
    if isinstance(error, RivaError):
        return error
    if isinstance(error, Unauthenticated):
        return RivaError(grpc.StatusCode.UNAUTHENTICATED, str(error))
    if isinstance(error, InputError):
        return invalid(str(error))
    log.exception("internal error", exc_info=error)
    return RivaError(grpc.StatusCode.INTERNAL, f"internal error of the Riva endpoint: {type(error).__name__} (logged)")


class Service:
    """What every servicer has: the settings, the way to Triton and the authenticator."""

    def __init__(self, settings, triton, authenticate: Authenticator):
        self.settings = settings
        self.triton = triton
        self.authenticate = authenticate


def rpc(method):
    """Authenticate the call, then run the method (a coroutine, or an async generator for streamed answers); an
    exception becomes the call's status."""
    name = method.__name__

    async def fail(context, error: Exception, started: float):
        status = status_of(error)
        log.info("%s -> %s (%.0f ms): %s", name, status.code.name, 1000 * (time.perf_counter() - started),
                 status.message)
        await context.abort(status.code, status.message)

    def done(owner, started: float) -> None:
        log.info("%s -> OK (%.0f ms)%s", name, 1000 * (time.perf_counter() - started),
                 f" for {owner}" if owner is not None else "")

    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def streamed(self: Service, request, context):
            started = time.perf_counter()
            try:
                owner = await self.authenticate(context.invocation_metadata() or ())
                async for response in method(self, request, context):
                    yield response
            except Exception as error:  # noqa: BLE001 (every failure is answered as a status)
                await fail(context, error, started)
            else:
                done(owner, started)

        return streamed

    @functools.wraps(method)
    async def unary(self: Service, request, context):
        started = time.perf_counter()
        try:
            owner = await self.authenticate(context.invocation_metadata() or ())
            response = await method(self, request, context)
        except Exception as error:  # noqa: BLE001
            await fail(context, error, started)
        done(owner, started)
        return response

    return unary
