"""What the gateway tests share: the databases (SQLite, a real PostgreSQL) and reading their rows with the
databases' own drivers, a fake inference service, the application in-process before it, recordings, the error
shape."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from tests.support.markers import POSTGRESQL
from triton_speech.client.connection import InferenceError, ServerUnavailable
from triton_speech.client.tts import Synthesis
from triton_speech.gateway.inference import Recognition, Spoken
from triton_speech.runtime.asr.words import Transcript

# SQLite, and the session's PostgreSQL (the parameter marks its tests `postgres`)
DATABASES = ["sqlite", POSTGRESQL]
# Small limits, so the too-large and too-long uploads stay cheap; limits per key far above what a test sends
# (the tests of the limits set their own).
GATEWAY_LIMITS = dict(max_upload_bytes=1_000_000, max_audio_seconds=20.0, rate_limit="100000/minute",
                      max_concurrent_inference=64)
FAKE_TEXT, FAKE_RAW = "Hello there.", "hello there"
FAKE_WORDS = [{"word": "hello", "start": 0.1, "end": 0.4, "confidence": 0.9},
              {"word": "there", "start": 0.5, "end": 0.9, "confidence": 0.8}]
TTS_RATE = 22050


# --- databases ----------------------------------------------------------------------------------------------------

def new_database(kind: str, folder: Path, request) -> str:
    """A new empty database of ``kind``: a SQLite file in ``folder``, or a database in the session's PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'gateway.sqlite3'}"
    return request.getfixturevalue("postgres").create_database(f"gateway_{uuid.uuid4().hex}")


def read_rows(database_url: str, table: str) -> list[dict]:
    """The rows of ``table`` read with the database's own driver (sqlite3, psycopg), not the gateway's models."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY id")]
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                         row_factory=dict_row) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


# --- a fake inference service -------------------------------------------------------------------------------------

@dataclass
class FakeInference:
    """Stands in for the Triton service: answers every request the same way, or fails as told (``fail`` an
    exception to raise), and records what it was asked. While ``hold`` (a threading.Event) is set, requests wait."""

    ready_: bool = True
    fail: Exception | None = None
    hold: threading.Event = field(default_factory=threading.Event)
    asked: list = field(default_factory=list)
    streams: list = field(default_factory=list)  # the live streams opened (FakeStream)
    stream_fail: Exception | None = None  # what the live streams' partial transcripts fail with

    async def ready(self) -> bool:
        return self.ready_

    async def _answer(self, request: tuple):
        self.asked.append(request)
        while self.hold.is_set():
            await asyncio.sleep(0.01)
        if self.fail is not None:
            raise self.fail

    async def recognize(self, audio: np.ndarray, request_id: str = "", offset_s: float = 0.0,
                        long: bool = False) -> Recognition:
        await self._answer(("recognize_long" if long else "recognize", audio.shape[0], request_id))
        return Recognition(Transcript(FAKE_TEXT, FAKE_RAW), FAKE_WORDS, 0.01)

    def open_stream(self, request_id: str = "") -> FakeStream:
        stream = FakeStream(self.stream_fail)
        self.streams.append(stream)
        return stream

    async def synthesize(self, text: str, seed: int, request_id: str = "") -> Spoken:
        await self._answer(("synthesize", text, seed))
        audio = 0.1 * np.sin(np.arange(TTS_RATE // 2) / 10).astype(np.float32)
        return Spoken(Synthesis(audio, TTS_RATE, False), 0.02)


class FakeStream:
    """Stands in for a live stream to asr_streaming: after the n-th chunk its transcript is the first n words of
    FAKE_RAW (so it stops changing after two), or it fails with ``fail``; records the chunks and its END."""

    def __init__(self, fail: Exception | None = None):
        self.fail, self.chunks, self.ended, self.cancelled = fail, [], False, False
        self.answers: asyncio.Queue = asyncio.Queue()

    async def send(self, audio: np.ndarray) -> None:
        self.chunks.append(np.array(audio))
        self.answers.put_nowait(self.fail or " ".join(FAKE_RAW.split()[: len(self.chunks)]))

    async def end(self) -> None:
        self.ended = True
        self.answers.put_nowait(FAKE_RAW)
        self.answers.put_nowait(None)

    def cancel(self) -> None:
        self.cancelled = True
        self.answers.put_nowait(None)

    def __aiter__(self):
        return self._answers()

    async def _answers(self):
        while (answer := await self.answers.get()) is not None:
            if isinstance(answer, Exception):
                raise answer
            yield answer


BAD_INPUT = InferenceError("TEXT row 0 has no speakable characters", "StatusCode.INVALID_ARGUMENT")
AWAY = ServerUnavailable("connection refused", "StatusCode.UNAVAILABLE")


def wav(seconds: float = 1.0, rate: int = 16000, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.repeat(tone[:, None], channels, axis=1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# --- the application in-process -----------------------------------------------------------------------------------

def error_of(response, status: int, kind: str = "invalid_request_error") -> str:
    """The message of an answer in the documented error shape, after checking the shape and the status."""
    body = response.json()
    assert response.status_code == status, (response.status_code, body)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == kind and body["error"]["code"] == status, body
    return body["error"]["message"]


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Api:
    """The gateway in-process (FastAPI's TestClient) before a fake inference service; ``client`` sends the key of
    ``alice``, ``keys`` holds alice's and bob's."""

    client: object
    app: object
    inference: FakeInference
    settings: object
    keys: dict

    def files(self, kind: str) -> list[str]:
        return sorted(p.name for p in (self.settings.media_dir / kind).iterdir())

    def rows(self, table: str) -> list[dict]:
        return read_rows(self.settings.database_url, table)

    def upload(self, data: bytes | None = None, name: str = "clip.wav", headers: dict | None = None, **form):
        return self.client.post("/api/transcriptions", files={"file": (name, data or wav(), "audio/wav")}, data=form,
                                headers=headers)


def gateway_settings(database_url: str, folder: Path, **settings):
    from triton_speech.gateway.settings import GatewaySettings

    values = dict(triton_url="127.0.0.1:1", database_url=database_url, media_dir=folder / "media")
    return GatewaySettings(**{**values, **settings})


@contextmanager
def running_api(database_url: str, folder: Path, **settings) -> Iterator[Api]:
    """The application built by ``create_app`` with these settings, its inference service a fake one."""
    from fastapi.testclient import TestClient

    from triton_speech.gateway import dependencies
    from triton_speech.gateway.app import create_app
    from triton_speech.gateway.keys import KeyStore

    chosen = gateway_settings(database_url, folder, **settings)
    app = create_app(chosen)
    fake = FakeInference()
    app.dependency_overrides[dependencies.inference] = lambda: fake
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        store = KeyStore(app.state.services.database)
        keys = {name: store.create(name)[1] for name in ("alice", "bob")}
        client.headers.update(bearer(keys["alice"]))
        yield Api(client, app, fake, chosen, keys)


# --- the gateway before a real Triton -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RunningGateway:
    url: str
    settings: object  # GatewaySettings
    key: str  # an API key of the gateway's database

    @property
    def headers(self) -> dict:
        return bearer(self.key)

    def rows(self, table: str) -> list[dict]:
        return read_rows(self.settings.database_url, table)

    def files(self, kind: str) -> list[str]:
        folder = Path(self.settings.media_dir) / kind
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def stored(self) -> dict:
        """Everything stored: rows and files of both kinds."""
        return {kind: (self.rows(kind), self.files(kind)) for kind in ("transcriptions", "speech")}
