"""Gateway fixtures: the application in-process before a fake inference service (route tests without Triton)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest
import soundfile

from triton_speech.client.connection import InferenceError, ServerUnavailable
from triton_speech.client.tts import Synthesis
from triton_speech.gateway.inference import Recognition, Spoken
from triton_speech.runtime.asr.words import Transcript

FAKE_TEXT, FAKE_RAW = "Hello there.", "hello there"
FAKE_WORDS = [{"word": "hello", "start": 0.1, "end": 0.4, "confidence": 0.9},
              {"word": "there", "start": 0.5, "end": 0.9, "confidence": 0.8}]
TTS_RATE = 22050


@dataclass
class FakeInference:
    """Stands in for the Triton service: answers every request the same way, or fails as told (``fail`` an
    exception to raise), and records what it was asked."""

    ready_: bool = True
    fail: Exception | None = None
    asked: list = field(default_factory=list)

    async def ready(self) -> bool:
        return self.ready_

    async def recognize(self, audio: np.ndarray, request_id: str = "", offset_s: float = 0.0) -> Recognition:
        self.asked.append(("recognize", audio.shape[0], request_id))
        if self.fail is not None:
            raise self.fail
        return Recognition(Transcript(FAKE_TEXT, FAKE_RAW), FAKE_WORDS, 0.01)

    async def synthesize(self, text: str, seed: int, request_id: str = "") -> Spoken:
        self.asked.append(("synthesize", text, seed))
        if self.fail is not None:
            raise self.fail
        audio = 0.1 * np.sin(np.arange(TTS_RATE // 2) / 10).astype(np.float32)
        return Spoken(Synthesis(audio, TTS_RATE, False), 0.02)


BAD_INPUT = InferenceError("TEXT row 0 has no speakable characters", "StatusCode.INVALID_ARGUMENT")
AWAY = ServerUnavailable("connection refused", "StatusCode.UNAVAILABLE")


def wav(seconds: float = 1.0, rate: int = 16000, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.repeat(tone[:, None], channels, axis=1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@dataclass
class Api:
    """The gateway in-process (FastAPI's TestClient) before ``inference``; ``media`` its media directory."""

    client: object
    app: object
    inference: FakeInference
    settings: object

    def files(self, kind: str) -> list[str]:
        return sorted(p.name for p in (self.settings.media_dir / kind).iterdir())

    def upload(self, data: bytes | None = None, name: str = "clip.wav", **form):
        return self.client.post("/api/transcriptions", files={"file": (name, data or wav(), "audio/wav")}, data=form)


def make_api(tmp_path, **settings):

    from triton_speech.gateway import dependencies
    from triton_speech.gateway.app import create_app
    from triton_speech.gateway.settings import GatewaySettings

    values = dict(triton_url="127.0.0.1:1", database_url=f"sqlite:///{tmp_path / 'gateway.sqlite3'}",
                  media_dir=tmp_path / "media")
    gateway_settings = GatewaySettings(**{**values, **settings})
    app = create_app(gateway_settings)
    fake = FakeInference()
    app.dependency_overrides[dependencies.inference] = lambda: fake
    return app, fake, gateway_settings


@pytest.fixture()
def api(tmp_path):
    from fastapi.testclient import TestClient

    app, fake, settings = make_api(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, app, fake, settings)
