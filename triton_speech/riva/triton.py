"""The endpoint's way to Triton: one asyncio gRPC client (one HTTP/2 connection for all calls), requests retried as
the gateway retries them, streams (sequence and decoupled models), and what Triton serves, asked once and kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence

import grpc
import numpy as np
from tritonclient.utils import InferenceServerException

from triton_speech.client.connection import InferenceError, TritonConnection, _inputs
from triton_speech.riva.calls import from_triton, unavailable

_END = object()


class Triton:
    """``await open()`` inside the serving event loop, then any call from the servicers; ``await close()``."""

    def __init__(self, url: str, retries: int):
        self.connection = TritonConnection(url, "grpc", retries=retries)
        self.url = url
        self.client = None
        self._metadata: dict[str, dict] = {}
        self._configs: dict[str, dict] = {}

    async def open(self) -> None:
        import tritonclient.grpc.aio as grpc_aio

        self.client = grpc_aio.InferenceServerClient(self.url)  # connects on first use: Triton may start later

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def infer(self, model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str],
                    request_id: str = "") -> dict[str, np.ndarray]:
        try:
            return await self.connection.infer_async(self.client, model, tensors, outputs, request_id=request_id)
        except InferenceError as error:
            raise from_triton(error, self.url) from None

    async def punctuate(self, model: str, text: str) -> str:
        """``text`` punctuated and capitalized by the punctuator ``model``."""
        answer = await self.infer(model, {"TEXT": np.array([[text.encode("utf-8")]], dtype=np.object_)},
                                  ["PUNCTUATED_TEXT"])
        return answer["PUNCTUATED_TEXT"].reshape(-1)[0].decode("utf-8")

    async def ready(self, model: str) -> bool:
        """Whether Triton serves ``model`` now; UNAVAILABLE when Triton does not answer."""
        try:
            return bool(await self.client.is_model_ready(model))
        except InferenceServerException as error:
            raise unavailable(self.url, error.message()) from None

    async def outputs(self, model: str) -> set[str]:
        """The output names of a served model (its metadata, asked once)."""
        if model not in self._metadata:
            self._metadata[model] = await self._ask(self.client.get_model_metadata, model)
        return {output["name"] for output in self._metadata[model]["outputs"]}

    async def parameter(self, model: str, key: str) -> str | None:
        """A parameter of a served model's config (asked once), or None."""
        if model not in self._configs:
            self._configs[model] = (await self._ask(self.client.get_model_config, model))["config"]
        entry = self._configs[model].get("parameters", {}).get(key)
        return None if entry is None else entry["string_value"]

    async def _ask(self, call, model: str) -> dict:
        try:
            return await call(model, as_json=True)
        except InferenceServerException as error:
            raise from_triton(error, self.url) from None

    async def stream(self, requests: AsyncIterator[dict]) -> AsyncIterator:
        """Triton's answers (InferResult) to the requests of one gRPC stream (dicts as ``stream_infer`` takes them,
        made from ``_inputs``), in order, as they come. An exception raised while making the requests, or an error
        answer, is raised here. The stream stays open until the caller stops reading (use ``aclosing``)."""
        events: asyncio.Queue = asyncio.Queue()
        closing = asyncio.Event()

        async def send():
            try:
                async for request in requests:
                    yield request
            except Exception as error:  # noqa: BLE001 (the reader raises it)
                events.put_nowait(error)
                return
            await closing.wait()  # Triton answers the last requests before the stream may close

        answers = self.client.stream_infer(send())

        async def receive():
            try:
                async for result, error in answers:
                    events.put_nowait(result if error is None else from_triton(error, self.url))
            except (grpc.RpcError, InferenceServerException) as error:
                events.put_nowait(from_triton(error, self.url))
            events.put_nowait(_END)

        receiver = asyncio.create_task(receive())
        try:
            while True:
                event = await events.get()
                if event is _END:
                    raise unavailable(self.url, "Triton closed the stream before answering")
                if isinstance(event, Exception):
                    raise event
                yield event
        finally:
            closing.set()
            receiver.cancel()
            answers.cancel()


def stream_request(model: str, tensors: Mapping[str, np.ndarray], outputs: Sequence[str], **options) -> dict:
    """One request of ``Triton.stream`` (``options``: request_id, sequence_id, sequence_start, sequence_end)."""
    import tritonclient.grpc.aio as grpc_aio

    return {"model_name": model, "inputs": _inputs(grpc_aio, tensors),
            "outputs": [grpc_aio.InferRequestedOutput(name) for name in outputs], **options}
