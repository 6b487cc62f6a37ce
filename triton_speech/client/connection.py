"""One Triton connection over gRPC or HTTP (KServe v2), synchronous and asyncio, retrying what is worth it."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from triton_speech.runtime.errors import InputError

PROTOCOLS = ("grpc", "http")


class ServerUnreachable(ConnectionError):
    """No Triton server answers at the given address."""


class InferenceError(RuntimeError):
    """The server answered a request with an error (bad input, model failure).

    ``status`` is the server's code: ``StatusCode.INVALID_ARGUMENT`` (gRPC) or ``400`` (HTTP) for bad input,
    ``StatusCode.INTERNAL`` / ``500`` for a fault of the server."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status

    @property
    def bad_input(self) -> bool:
        return self.status in ("StatusCode.INVALID_ARGUMENT", "400")


class ServerUnavailable(InferenceError):
    """The server could not take the request for now (stopping, or a model reloading): retrying may succeed."""


# What the server says while it cannot serve for a moment, and the client retries: Triton's own UNAVAILABLE
# (stopping, restricted), and the answers of Triton 2.51 while a model whose python stub died is reloaded
# (the launcher's watchdog does that within seconds): INTERNAL "Stub process ... is not healthy" until the
# reload starts, then "Request for unknown model: ... has no available versions" until it is ready again.
TRANSIENT_MESSAGES = ("is not healthy", "has no available versions", "Server is stopping")


def classify(error: InferenceServerException) -> InferenceError:
    """The client error for a server answer: ServerUnavailable when retrying may succeed."""
    status, message = error.status(), error.message()
    transient = status in ("StatusCode.UNAVAILABLE", "503") or any(m in message for m in TRANSIENT_MESSAGES)
    return (ServerUnavailable if transient else InferenceError)(message, status)


def backoff_delays(retries: int, first_s: float = 0.2, cap_s: float = 4.0) -> list[float]:
    """Waits before each retry: doubling from ``first_s``, capped, with jitter so clients do not retry in step."""
    return [min(cap_s, first_s * 2**attempt) * random.uniform(0.8, 1.2) for attempt in range(retries)]


def default_url(protocol: str) -> str:
    if protocol == "grpc":
        return f"127.0.0.1:{os.environ.get('TRITON_GRPC_PORT', '8001')}"
    port = os.environ.get("TRITON_HTTP_PORT", "8000")
    return f"127.0.0.1:{port}"


def _module(protocol: str, asynchronous: bool):
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "grpc":
        import tritonclient.grpc as sync_module
        import tritonclient.grpc.aio as async_module
    else:
        import tritonclient.http as sync_module
        import tritonclient.http.aio as async_module
    return async_module if asynchronous else sync_module


def _inputs(module, tensors: Mapping[str, np.ndarray]) -> list:
    inputs = []
    for name, array in tensors.items():
        infer_input = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        infer_input.set_data_from_numpy(array)
        inputs.append(infer_input)
    return inputs


class TritonConnection:
    """``retries``: how often a request the server could not take for now (ServerUnavailable) is sent again,
    with exponential backoff (about 10 s in all for the default 6); bad input is never retried."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", timeout_s: float = 120.0, retries: int = 6):
        _module(protocol, asynchronous=False)  # validates the protocol
        self.protocol = protocol
        self.url = url or default_url(protocol)
        self.timeout_s = timeout_s
        self.retries = retries
        self._client = None

    def _unreachable(self, error: Exception) -> ServerUnreachable:
        return ServerUnreachable(
            f"cannot reach a Triton server at {self.url} over {self.protocol} ({error}). "
            f"Start one with `make serve`, or pass --url HOST:PORT."
        )

    @property
    def client(self):
        if self._client is None:
            module = _module(self.protocol, asynchronous=False)
            try:
                self._client = module.InferenceServerClient(self.url)
                live = self._client.is_server_live()
            except Exception as error:  # connection refused, DNS, protocol mismatch
                self._client = None
                raise self._unreachable(error) from None
            if not live:
                raise self._unreachable(RuntimeError("server is not live"))
        return self._client

    def infer(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        module = _module(self.protocol, asynchronous=False)
        requested = [module.InferRequestedOutput(name) for name in outputs]
        for delay in [*backoff_delays(self.retries), None]:
            try:
                result = self.client.infer(model, _inputs(module, tensors), outputs=requested)
                return {name: result.as_numpy(name) for name in outputs}
            except InferenceServerException as error:
                failure = classify(error)
            if not isinstance(failure, ServerUnavailable) or delay is None:
                raise failure
            time.sleep(delay)

    async def infer_async(self, client, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str],
                          request_id: str = ""):
        """``request_id`` travels with the request (Triton's logs and traces show it)."""
        module = _module(self.protocol, asynchronous=True)
        requested = [module.InferRequestedOutput(name) for name in outputs]
        for delay in [*backoff_delays(self.retries), None]:
            try:
                result = await client.infer(model, _inputs(module, tensors), outputs=requested, request_id=request_id)
                return {name: result.as_numpy(name) for name in outputs}
            except InferenceServerException as error:
                failure = classify(error)
            if not isinstance(failure, ServerUnavailable) or delay is None:
                raise failure
            await asyncio.sleep(delay)

    def stream(self, model: str, tensors: Mapping[str, np.ndarray],
               outputs: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
        """The responses of a decoupled model to one request, as they arrive (in order), until the final one.

        gRPC: a bidirectional stream. HTTP: ``POST /v2/models/MODEL/generate_stream`` (server-sent events; the inputs
        go as JSON, so ``tensors`` must be one row). A request the server cannot take for now is retried as
        ``infer`` retries it, as long as no response has arrived yet.
        """
        received = False
        for delay in [*backoff_delays(self.retries), None]:
            try:
                responses = self._grpc_stream if self.protocol == "grpc" else self._http_stream
                for response in responses(model, tensors, outputs):
                    received = True
                    yield response
                return
            except ServerUnavailable:
                if received or delay is None:
                    raise
            time.sleep(delay)

    def _grpc_stream(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]):
        module = _module("grpc", asynchronous=False)
        client = module.InferenceServerClient(self.url)  # one stream per client: a client of its own
        responses: queue.Queue = queue.Queue()
        try:
            client.start_stream(callback=lambda result, error: responses.put((result, error)),
                                stream_timeout=self.timeout_s)
            client.async_stream_infer(model, _inputs(module, tensors),
                                      outputs=[module.InferRequestedOutput(name) for name in outputs],
                                      enable_empty_final_response=True)
            while True:
                try:
                    result, error = responses.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise InferenceError(f"no response from {model} in {self.timeout_s:.0f} s") from None
                if error is not None:
                    raise classify(error)
                final = result.get_response().parameters["triton_final_response"].bool_param
                if result.get_response().outputs:
                    yield {name: result.as_numpy(name) for name in outputs}
                if final:
                    return
        except InferenceServerException as error:
            raise classify(error) from None
        finally:
            client.stop_stream(cancel_requests=True)
            client.close()

    def _http_stream(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]):
        body = {name: _json_value(name, array) for name, array in tensors.items()}
        request = urllib.request.Request(f"http://{self.url}/v2/models/{model}/generate_stream",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                yield from _server_sent_events(answer, outputs)
        except urllib.error.HTTPError as error:
            # A request refused before its first response: its one event is the error.
            events = error.read().decode("utf-8", "replace").splitlines()
            message = next((json.loads(line[5:]).get("error", line) for line in events if line.startswith("data:")),
                           str(error))
            raise classify(InferenceServerException(message, status=str(error.code))) from None
        except (urllib.error.URLError, ConnectionError) as error:
            raise self._unreachable(error) from None

    async def open_async(self):
        """An asyncio client (close it with ``await client.close()``); raises ServerUnreachable."""
        module = _module(self.protocol, asynchronous=True)
        client = module.InferenceServerClient(self.url)
        try:
            live = await client.is_server_live()
        except Exception as error:
            await client.close()
            raise self._unreachable(error) from None
        if not live:
            await client.close()
            raise self._unreachable(RuntimeError("server is not live"))
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _json_value(name: str, array: np.ndarray):
    """One row of a tensor as JSON (strings for BYTES)."""
    value = np.asarray(array).reshape(-1)
    if value.size != 1:
        raise InputError(f"{name}: generate_stream takes one value per input, got {value.size}")
    item = value[0]
    if not isinstance(item, bytes):
        return item.item()
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{name} row 0 is not valid UTF-8 ({error.reason} at offset {error.start}): "
                         "generate_stream sends text as JSON") from None


def _server_sent_events(answer, outputs: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """Each ``data:`` event of a generate_stream answer as arrays (an error event raises)."""
    for line in answer:
        line = line.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:])
        if "error" in event:
            raise classify(InferenceServerException(event["error"], status="400"))
        yield {name: np.asarray(event[name]) for name in outputs}
