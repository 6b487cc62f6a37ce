"""Live captions: the WebSocket ``/api/transcriptions/live``.

The client sends a start message, then its microphone as binary PCM frames, then a stop message; the gateway sends
the audio on to ``asr_streaming`` in chunks of ``STREAM_CHUNK_MS`` and answers the transcript so far whenever it
changes. At the end the recording is transcribed as an upload of it would be (``asr``: silence trimmed,
punctuated), stored as one of the caller's transcriptions with the recording as a WAV, and the final message
carries the stored row. The stream ends at the client's stop, when its socket closes (the recording is still
stored), at the length limit, or after ``live_idle_seconds`` without a message; a client at fault (a bad message or
frame, audio faster than real time) gets an error message and the close, and nothing is stored.

Who may open it is checked before (``access``): the origin at the handshake, the key and rate limit with an error
message and close code 4401/4429. Here: one of the key's inference slots for as long as the stream lasts (4429).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from triton_speech import defaults
from triton_speech.client.connection import InferenceError
from triton_speech.gateway import audio, handlers
from triton_speech.gateway.access import application_subprotocol
from triton_speech.gateway.database import Database
from triton_speech.gateway.dependencies import (
    ConnectionCallerDep,
    DatabaseDep,
    InferenceDep,
    MediaDep,
    SettingsDep,
    SlotsDep,
)
from triton_speech.gateway.errors import DATABASE_AWAY, DATABASE_AWAY_MESSAGE, APIError, websocket_error
from triton_speech.gateway.inference import Inference, TranscriptStream
from triton_speech.gateway.keys import Caller
from triton_speech.gateway.live import SAMPLE_RATE, FrameError, LiveAudio, LiveLimits
from triton_speech.gateway.middleware import request_id
from triton_speech.gateway.protocol import LiveStart, LiveStop, TranscriptionOut
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore

log = logging.getLogger("triton_speech.gateway")
PATH = "/api/transcriptions/live"
DEFAULT_NAME = "live recording"
END_WAIT_S = 30.0  # for asr_streaming's answer to END, after the final was sent: the model frees the stream then
router = APIRouter(tags=["live"])


class Gone(Exception):
    """The client closed its socket."""


@router.websocket(PATH)
async def live(websocket: WebSocket, settings: SettingsDep, database: DatabaseDep, media: MediaDep,
               inference: InferenceDep, slots: SlotsDep, caller: ConnectionCallerDep):
    conversation = Conversation(websocket, settings, database, media, inference, caller)
    async with conversation.failures():
        with slots.hold(caller):
            await websocket.accept(subprotocol=application_subprotocol(websocket.scope))
            await conversation.run()


class Conversation:
    """One live stream's messages, in and out."""

    def __init__(self, websocket: WebSocket, settings: GatewaySettings, database: Database, media: MediaStore,
                 inference: Inference, caller: Caller):
        self.websocket, self.settings, self.database, self.media = websocket, settings, database, media
        self.inference, self.caller = inference, caller
        self.accepted = self.gone = False
        self.partials = True  # forwarded until the recording ends
        self._sending = asyncio.Lock()

    async def say(self, message: dict) -> None:
        if self.gone:
            return
        async with self._sending:
            try:
                await self.websocket.send_text(json.dumps(message))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.gone = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.gone:
            self.gone = True
            try:
                await self.websocket.close(code, reason)
            except (RuntimeError, OSError):
                pass  # closed already

    async def fail(self, status: int, message: str) -> None:
        """The error message, then the close (code 4000 + status)."""
        text, code, reason = websocket_error(status, message)
        if self.gone:
            return
        if self.websocket.client_state.name == "CONNECTING":
            await self.websocket.accept(subprotocol=application_subprotocol(self.websocket.scope))
        async with self._sending:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.gone = True
        await self.close(code, reason)

    @asynccontextmanager
    async def failures(self) -> AsyncIterator[None]:
        """What goes wrong, told to the client (an error message and the close) and logged."""
        try:
            yield
        except APIError as error:
            await self.fail(error.status, error.message)
        except DATABASE_AWAY as error:
            log.warning("database error: %s", str(error).splitlines()[0])
            await self.fail(503, DATABASE_AWAY_MESSAGE)
        except Gone:
            pass
        except Exception:
            log.exception("live captions failed")
            await self.fail(500, "the gateway failed (its log has the details)")

    async def receive(self) -> dict | None:
        """The next message; Gone once the client closed; None after ``live_idle_seconds`` without one."""
        try:
            message = await asyncio.wait_for(self.websocket.receive(), self.settings.live_idle_seconds)
        except asyncio.TimeoutError:
            return None
        if message["type"] == "websocket.disconnect":
            self.gone = True
            raise Gone
        return message

    async def run(self) -> None:
        start = await self.start()
        try:
            recording = LiveAudio(start.sample_rate, start.format, LiveLimits(
                self.settings.max_live_seconds, self.settings.live_max_frame_seconds, self.settings.live_ahead_seconds))
        except FrameError as error:
            raise APIError(400, str(error), "sample_rate" if "sample_rate" in str(error) else "format") from None
        stream = self.inference.open_stream(request_id.get())
        forwarding = asyncio.create_task(self.forward(stream, recording.chunk_samples))
        try:
            async with self.failures():  # told before the stream's end is tidied up
                await self.say({"type": "ready", "sample_rate": SAMPLE_RATE, "chunk_ms": defaults.STREAM_CHUNK_MS,
                                "max_seconds": self.settings.max_live_seconds})
                ended = await self.listen(recording, stream)
                self.partials = False
                recording.finish()
                await self.finish(recording, start, ended)
        finally:
            self.partials = False
            await self.end_stream(stream, forwarding)

    async def start(self) -> LiveStart:
        message = await self.receive()
        if message is None:
            raise APIError(408, f"no start message within {self.settings.live_idle_seconds:g} s")
        text = message.get("text")
        if text is None:
            raise APIError(400, "the first message must be the start message (JSON text: {\"type\": \"start\", "
                                "\"sample_rate\": ..., \"format\": \"s16le\"}), not audio")
        try:
            return LiveStart.model_validate_json(text)
        except ValidationError as error:
            raise APIError(400, f"the start message is not valid: {problems(error)}") from None

    async def listen(self, recording: LiveAudio, stream: TranscriptStream) -> str:
        """Frames on to the stream until the recording ends; says how: stop, closed, limit or idle."""
        while True:
            try:
                message = await self.receive()
            except Gone:
                return "closed"
            if message is None:
                return "idle"
            if message.get("bytes") is not None:
                try:
                    chunks = recording.add(message["bytes"])
                except FrameError as error:
                    raise APIError(400, str(error)) from None
                for chunk in chunks:
                    await stream.send(chunk)
                if recording.full:
                    return "limit"
                continue
            try:
                LiveStop.model_validate_json(message.get("text") or "")
            except ValidationError as error:
                raise APIError(400, f"after start, only audio frames (binary) and the stop message "
                                    f"({{\"type\": \"stop\"}}) are sent: {problems(error)}") from None
            return "stop"

    async def forward(self, stream: TranscriptStream, chunk_samples: int) -> None:
        """The transcript so far whenever it changes, while the recording lasts. Partial transcripts are a help,
        not the result: should asr_streaming fail, they stop, and the final transcript is still made."""
        shown, answered = "", 0
        try:
            async for text in stream:
                answered += 1
                if self.partials and text != shown:
                    shown = text
                    await self.say({"type": "partial", "text": text,
                                    "seconds": round(answered * chunk_samples / SAMPLE_RATE, 3)})
        except InferenceError as error:
            log.warning("asr_streaming failed%s: %s", ", no more partial transcripts for this stream"
                        if self.partials else " at the stream's end", error)

    async def finish(self, recording: LiveAudio, start: LiveStart, ended: str) -> None:
        """Transcribe the recording as an upload, store it, send the final message and close."""
        pcm = recording.recording()
        if pcm.shape[0] == 0:
            raise APIError(400, "no audio was received: send frames between the start and stop messages")
        decoded = audio.DecodedAudio(pcm.astype(np.float32) / 32768.0, SAMPLE_RATE, ".wav", "audio/wav")
        recognition = await handlers.recognize(self.inference, decoded, self.settings)
        row = handlers.transcription(self.caller, start.name or DEFAULT_NAME, recognition, decoded)
        data = await run_in_threadpool(audio.encode, decoded.samples, SAMPLE_RATE)
        await handlers.store(self.database, self.media, "transcriptions", row, data, ".wav")
        log.info("stored live transcription %d (%.2f s of audio, ended: %s)", row.id, decoded.seconds, ended)
        final = {"type": "final", "ended": ended, "transcription": TranscriptionOut.of(row).model_dump(mode="json")}
        if ended == "limit":
            final["message"] = (f"the recording reached the limit of {self.settings.max_live_seconds:g} s and ended "
                                "there")
        await self.say(final)
        await self.close()

    async def end_stream(self, stream: TranscriptStream, forwarding: asyncio.Task) -> None:
        """END to asr_streaming (it frees the stream's audio), its answer awaited for a while, then the call
        stopped."""
        await stream.end()
        try:
            await asyncio.wait_for(asyncio.shield(forwarding), END_WAIT_S)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 (the stream's end is tidying, never an answer)
            pass
        forwarding.cancel()
        stream.cancel()


def problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in problem['loc']) or 'message'}: "
                     f"{problem['msg'].removeprefix('Value error, ')}" for problem in error.errors())
