"""The gateway's way to Triton: one asyncio gRPC client for all requests (one HTTP/2 connection, reused), the
project's clients' request and answer formats, word timestamps when the served ``asr`` has them, and live streams
through ``asr_streaming``.

Requests Triton cannot take for now are sent again, as the project's clients send them: the channel itself retries
UNAVAILABLE at once (``grpc_channel_args``: a replica behind a balancer went away), and each request is retried
``GatewaySettings.triton_retries`` times with backoff on what ``classify`` calls transient, which includes a model
whose python stub is being replaced (NOT_FOUND "has no available versions", INTERNAL "... is not healthy"). Every
request the gateway sends is safe to repeat: nothing is stored before Triton has answered."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np
from tritonclient.utils import InferenceServerException

from triton_speech.client.asr import ASRClient
from triton_speech.client.connection import TritonConnection, _inputs, classify, retry_policy
from triton_speech.client.tts import OUTPUTS as TTS_OUTPUTS
from triton_speech.client.tts import Synthesis, TTSClient
from triton_speech.runtime.asr.words import WORD_END_S, WORD_OUTPUTS, WORD_START_S, WORDS, Transcript

TEXT_OUTPUTS = ("TRANSCRIPT", "RAW_TRANSCRIPT")
# The asr ensemble's word outputs (text, start and end in seconds into the audio, confidence); another model behind
# the gateway may lack them, or the confidence.
REQUIRED_WORD_OUTPUTS = (WORDS, WORD_START_S, WORD_END_S)


@dataclass(frozen=True)
class Recognition:
    transcript: Transcript
    words: list[dict] | None  # {"word", "start", "end"[, "confidence"]}; None when the model gives no timestamps
    seconds: float  # inference time: the request to Triton and back


@dataclass(frozen=True)
class Spoken:
    synthesis: Synthesis
    seconds: float


def words_of(outputs: dict[str, np.ndarray], offset_s: float = 0.0) -> list[dict] | None:
    """The word list of an ``asr`` answer, or None when it has no word outputs; times moved ``offset_s`` later (the
    audio sent began that far into the recording)."""
    if not all(name in outputs for name in REQUIRED_WORD_OUTPUTS):
        return None
    words = [w.decode("utf-8") if isinstance(w, bytes) else str(w) for w in outputs["WORDS"].reshape(-1)]
    starts, ends = (outputs[name].reshape(-1).astype(float) for name in ("WORD_START_S", "WORD_END_S"))
    confidence = outputs["WORD_CONFIDENCE"].reshape(-1).astype(float) if "WORD_CONFIDENCE" in outputs else None
    result = []
    for index, word in enumerate(words):
        entry = {"word": word, "start": round(float(starts[index]) + offset_s, 3),
                 "end": round(float(ends[index]) + offset_s, 3)}
        if confidence is not None:
            entry["confidence"] = round(float(confidence[index]), 4)
        result.append(entry)
    return result


class Inference:
    """``await open()`` once; then ``recognize`` and ``synthesize`` from any request; ``await close()``."""

    def __init__(self, url: str, retries: int, asr_model: str = "asr", tts_model: str = "tts",
                 long_model: str = "asr_long", streaming_model: str = "asr_streaming"):
        self.connection = TritonConnection(url, "grpc", retries=retries)
        self.asr_model, self.tts_model = asr_model, tts_model
        self.long_model, self.streaming_model = long_model, streaming_model
        self.client = None
        self._asr_outputs: list[str] | None = None

    async def open(self) -> None:
        # No liveness check here: the gateway starts (and says it is not ready) while Triton is down.
        self.client = self.connection.new_client(asynchronous=True)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def ready(self) -> bool:
        try:
            return bool(await self.client.is_server_ready())
        except Exception:  # unreachable, refused, stopping: not ready, whatever the cause
            return False

    async def asr_outputs(self) -> list[str]:
        """The text outputs and, when the served asr model has them, the word outputs (from its metadata)."""
        if self._asr_outputs is None:
            metadata = await retry_policy(self.connection.retries, asynchronous=True)(self._metadata, self.asr_model)
            served = {output["name"] for output in metadata["outputs"]}
            words = list(WORD_OUTPUTS) if set(REQUIRED_WORD_OUTPUTS) <= served else []
            self._asr_outputs = [name for name in [*TEXT_OUTPUTS, *words] if name in served]
        return self._asr_outputs

    async def _metadata(self, model: str) -> dict:
        try:
            return await self.client.get_model_metadata(model, as_json=True)
        except InferenceServerException as error:
            raise classify(error) from None

    async def recognize(self, audio: np.ndarray, request_id: str = "", offset_s: float = 0.0,
                        long: bool = False) -> Recognition:
        """``long``: through ``asr_long`` (recordings longer than ``asr`` takes, in windows; same outputs)."""
        outputs = await self.asr_outputs()
        started = time.perf_counter()
        model = self.long_model if long else self.asr_model
        answer = await self.connection.infer_async(self.client, model, ASRClient.tensors(audio), outputs,
                                                   request_id=request_id)
        seconds = time.perf_counter() - started
        return Recognition(ASRClient.transcript(answer), words_of(answer, offset_s), seconds)

    async def synthesize(self, text: str, seed: int, request_id: str = "") -> Spoken:
        started = time.perf_counter()
        answer = await self.connection.infer_async(self.client, self.tts_model, TTSClient.tensors(text, seed),
                                                   TTS_OUTPUTS, request_id=request_id)
        return Spoken(TTSClient.synthesis(answer), time.perf_counter() - started)

    def open_stream(self, request_id: str = "") -> TranscriptStream:
        """A new live stream to ``asr_streaming``."""
        return TranscriptStream(self.client, self.streaming_model, request_id)


class TranscriptStream:
    """One live stream to ``asr_streaming`` over gRPC streaming (Triton's sequence batcher: a sequence id, START on
    the first chunk, END on the last): ``send`` chunks (16 kHz float32), iterate for the transcript so far after
    each chunk, ``end()`` to send END (the model frees the stream) and close the request side; ``cancel()`` stops
    the call."""

    def __init__(self, client, model: str, request_id: str):
        import tritonclient.grpc.aio as grpc_aio

        self._module, self.model, self.request_id = grpc_aio, model, request_id
        self.sequence_id = secrets.randbits(63) or 1
        self.sent, self.ended = 0, False
        self._requests: asyncio.Queue = asyncio.Queue()
        self._call = client.stream_infer(self._iterate())

    async def _iterate(self):
        while (request := await self._requests.get()) is not None:
            yield request

    def _put(self, audio: np.ndarray, end: bool) -> None:
        tensors = {"AUDIO": np.asarray(audio, dtype=np.float32).reshape(1, -1)}
        self._requests.put_nowait({
            "model_name": self.model, "inputs": _inputs(self._module, tensors),
            "outputs": [self._module.InferRequestedOutput("TRANSCRIPT")], "request_id": self.request_id,
            "sequence_id": self.sequence_id, "sequence_start": self.sent == 0, "sequence_end": end})
        self.sent += 1

    async def send(self, audio: np.ndarray) -> None:
        self._put(audio, end=False)

    async def end(self) -> None:
        """END (an empty chunk) for a stream that began; then no more requests."""
        if not self.ended:
            self.ended = True
            if self.sent:
                self._put(np.zeros(0, np.float32), end=True)
            self._requests.put_nowait(None)

    def cancel(self) -> None:
        self._call.cancel()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._answers()

    async def _answers(self) -> AsyncIterator[str]:
        while True:
            try:
                result, error = await self._call.__anext__()
            except StopAsyncIteration:
                return
            except grpc.RpcError as failure:  # the call itself failed (Triton away, cancelled)
                raise classify(InferenceServerException(str(failure.details()), str(failure.code()))) from None
            if error is not None:
                raise classify(error)
            yield result.as_numpy("TRANSCRIPT").reshape(-1)[0].decode("utf-8")
