"""One Triton connection over gRPC or HTTP (KServe v2), synchronous and asyncio, retrying what is worth it."""

from __future__ import annotations

import json
import queue
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from tenacity import AsyncRetrying, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from triton_speech import defaults
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


class StreamLost(InferenceError):
    """A stream ended before its last answer: its server went away, or no longer knows the stream (restarted, or
    another replica took over). What arrived is incomplete; send the whole stream again, to any server."""


def stream_lost(error: InferenceError, what: str, answered: int) -> InferenceError:
    """``error`` of a stream after ``answered`` answers: StreamLost when the server went away or lost the stream's
    state (retrying the next chunk could only go wrong), else the error itself (bad input, a model's fault)."""
    gone = isinstance(error, ServerUnavailable) or error.status in ("StatusCode.CANCELLED",
                                                                    "StatusCode.DEADLINE_EXCEEDED")
    if not gone and "must specify the START flag" not in str(error):
        return error
    return StreamLost(f"{what} was cut after {answered} answer(s) ({error.status}: {error}): what arrived is "
                      "incomplete; send the stream again", error.status)


# What the server says while it cannot serve for a moment, and the client retries: Triton's own UNAVAILABLE
# (stopping, restricted), and the answers of Triton 2.51 while a model whose python stub died is reloaded
# (the launcher's watchdog does that within seconds): INTERNAL "Stub process ... is not healthy" until the
# reload starts, then "Request for unknown model: ... has no available versions" until it is ready again.
TRANSIENT_MESSAGES = ("is not healthy", "has no available versions", "Server is stopping")


# Statuses of a server that could not take the request for now: gRPC's UNAVAILABLE, and over HTTP 503 and what a
# load balancer answers when a replica went away (502 bad gateway, 504 gateway timeout).
TRANSIENT_STATUSES = ("StatusCode.UNAVAILABLE", "502", "503", "504")


def classify(error: InferenceServerException) -> InferenceError:
    """The client error for a server answer: ServerUnavailable when retrying may succeed."""
    status, message = error.status(), error.message()
    transient = status in TRANSIENT_STATUSES or any(m in message for m in TRANSIENT_MESSAGES)
    return (ServerUnavailable if transient else InferenceError)(message, status)


# Waits between tries: doubling from the first, capped, with up to RETRY_JITTER_S added so that clients do not retry
# in step. The default 6 retries wait about 10 s in all.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 4.0
RETRY_JITTER_S = 0.1


def retry_policy(retries: int, asynchronous: bool = False) -> Retrying | AsyncRetrying:
    """How a request the server could not take for now (ServerUnavailable) is sent again: at most ``retries`` more
    times, with exponential backoff; any other error is raised at once. Call it with the function and its
    arguments: ``retry_policy(3)(client.infer, ...)`` (``await`` it when ``asynchronous``)."""
    kind = AsyncRetrying if asynchronous else Retrying
    return kind(retry=retry_if_exception_type(ServerUnavailable), stop=stop_after_attempt(retries + 1),
                wait=wait_exponential_jitter(initial=RETRY_FIRST_S, max=RETRY_MAX_S, jitter=RETRY_JITTER_S),
                reraise=True)


# gRPC's own retries (service config), below the client's: a call that failed with UNAVAILABLE (a replica behind a
# load balancer went away, the server stopping) is sent again at once by the channel, up to GRPC_RETRY_ATTEMPTS
# tries in all. Only calls that are safe to repeat: inference and reads, never a stream (a stream's sequence lives on
# one server) nor a load or unload.
GRPC_SERVICE = "inference.GRPCInferenceService"
GRPC_RETRIED_METHODS = ("ModelInfer", "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
                        "ModelConfig", "ModelStatistics")
GRPC_RETRY_ATTEMPTS = 3
# A request is retried by the channel only if it fits this buffer (larger ones are left to retry_policy): 60 s of
# 16 kHz float32 audio is 3.84 MB.
GRPC_RETRY_BUFFER_BYTES = 16 * 1024 * 1024


def grpc_service_config(attempts: int = GRPC_RETRY_ATTEMPTS) -> dict:
    """The gRPC service config of the retry policy (``grpc.service_config`` channel option, as JSON)."""
    return {"methodConfig": [{
        "name": [{"service": GRPC_SERVICE, "method": method} for method in GRPC_RETRIED_METHODS],
        "retryPolicy": {"maxAttempts": attempts, "initialBackoff": "0.1s", "maxBackoff": "1s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }]}


def grpc_channel_args(attempts: int = GRPC_RETRY_ATTEMPTS) -> list[tuple[str, object]]:
    """Channel options for ``tritonclient.grpc[.aio].InferenceServerClient(url, channel_args=...)`` (or
    ``grpc.insecure_channel(url, options=...)``): tritonclient's own defaults plus the retry policy."""
    from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, KeepAliveOptions

    keepalive = KeepAliveOptions()
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.enable_retries", 1),
        ("grpc.per_rpc_retry_buffer_size", GRPC_RETRY_BUFFER_BYTES),
        ("grpc.service_config", json.dumps(grpc_service_config(attempts))),
    ]


def default_url(protocol: str) -> str:
    """127.0.0.1 and the protocol's port (TRITON_GRPC_PORT or TRITON_HTTP_PORT), where ``make serve`` listens."""
    port = defaults.from_env("TRITON_GRPC_PORT" if protocol == "grpc" else "TRITON_HTTP_PORT", int)
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
    with exponential backoff (about 10 s in all for the default 6, see ``retry_policy``); bad input is never retried.
    Over gRPC the channel also retries UNAVAILABLE calls itself (``grpc_channel_args``)."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", timeout_s: float = 120.0,
                 retries: int = defaults.CLIENT_RETRIES):
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

    def new_client(self, asynchronous: bool = False):
        """A tritonclient client of this server (gRPC ones with the retry policy of ``grpc_channel_args``)."""
        module = _module(self.protocol, asynchronous)
        if self.protocol == "grpc":
            return module.InferenceServerClient(self.url, channel_args=grpc_channel_args())
        return module.InferenceServerClient(self.url)

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = self.new_client()
                live = self._client.is_server_live()
            except Exception as error:  # connection refused, DNS, protocol mismatch
                self._client = None
                raise self._unreachable(error) from None
            if not live:
                raise self._unreachable(RuntimeError("server is not live"))
        return self._client

    def _lost(self, error: OSError) -> ServerUnavailable:
        """A connection that failed under a request (HTTP): the server went away, maybe for a moment."""
        return ServerUnavailable(f"the connection to {self.url} failed: {error}", "connection")

    def infer(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        return retry_policy(self.retries)(self._infer_once, model, tensors, outputs)

    def _infer_once(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]):
        module = _module(self.protocol, asynchronous=False)
        requested = [module.InferRequestedOutput(name) for name in outputs]
        try:
            result = self.client.infer(model, _inputs(module, tensors), outputs=requested)
        except InferenceServerException as error:
            raise classify(error) from None
        except OSError as error:
            raise self._lost(error) from None
        return {name: result.as_numpy(name) for name in outputs}

    async def infer_async(self, client, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str],
                          request_id: str = ""):
        """``request_id`` travels with the request (Triton's logs and traces show it)."""
        return await retry_policy(self.retries, asynchronous=True)(self._infer_async_once, client, model, tensors,
                                                                    outputs, request_id)

    async def _infer_async_once(self, client, model: str, tensors: Mapping[str, np.ndarray],
                                outputs: Sequence[str], request_id: str):
        module = _module(self.protocol, asynchronous=True)
        requested = [module.InferRequestedOutput(name) for name in outputs]
        try:
            result = await client.infer(model, _inputs(module, tensors), outputs=requested, request_id=request_id)
        except InferenceServerException as error:
            raise classify(error) from None
        except OSError as error:
            raise self._lost(error) from None
        return {name: result.as_numpy(name) for name in outputs}

    def stream(self, model: str, tensors: Mapping[str, np.ndarray],
               outputs: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
        """The responses of a decoupled model to one request, as they arrive (in order), until the final one.

        gRPC: a bidirectional stream. HTTP: ``POST /v2/models/MODEL/generate_stream`` (server-sent events; the inputs
        go as JSON, so ``tensors`` must be one row). A request the server cannot take for now is retried as
        ``infer`` retries it, as long as no response has arrived yet; after the first, an error ends the stream.
        """
        opened = self._grpc_stream if self.protocol == "grpc" else self._http_stream
        for attempt in retry_policy(self.retries):
            with attempt:
                responses = opened(model, tensors, outputs)
                first = next(responses, None)
        if first is None:
            return
        yield first
        answered = 1
        try:
            for response in responses:
                yield response
                answered += 1
        except InferenceError as error:
            raise stream_lost(error, f"the stream of {model} from {self.url}", answered) from None

    def _grpc_stream(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str]):
        module = _module("grpc", asynchronous=False)
        client = self.new_client()  # one stream per client: a client of its own
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
        client = self.new_client(asynchronous=True)
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
