"""What the gateway's API takes and answers: the pydantic schemas of the OpenAI-compatible audio endpoints and of
the stored resources, and the error shape (OpenAI's), which the OpenAPI page shows."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, ClassVar, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from triton_speech import defaults
from triton_speech.gateway.database import Speech, Transcription
from triton_speech.gateway.inference import Recognition

# Ids, offsets and seeds are stored in 32-bit integer columns (PostgreSQL's INTEGER): larger numbers are refused as
# bad input rather than reaching the database.
MAX_INT = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_INT)]
Offset = Annotated[int, Field(ge=0, le=MAX_INT)]
Seed = Annotated[int, Field(ge=0, le=MAX_INT, description="the same text and seed give the same audio")]


def without_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; no person's text needs one
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    return value


def without_control_characters(value: str) -> str:
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise ValueError("must not contain control characters")
    return value


Text = Annotated[str, Field(min_length=1, max_length=defaults.MAX_TEXT_CHARS), AfterValidator(without_nul)]
Name = Annotated[str, Field(max_length=255), AfterValidator(without_control_characters)]


def plain_name(value: str) -> str:
    """A client's file name as a shown name: control characters dropped, at most 255 characters."""
    return "".join(c for c in value if unicodedata.category(c) != "Cc")[:255]


class ErrorDetail(BaseModel):
    message: str
    type: Literal["invalid_request_error", "server_error"]
    param: str | None
    code: int


class ErrorResponse(BaseModel):
    """OpenAI's error shape, which its clients read."""

    error: ErrorDetail


class Word(BaseModel):
    word: str
    start: float
    end: float
    confidence: float | None = None


class StoredOut(BaseModel):
    """A stored row as the API shows it: its fields, and where its audio is."""

    KIND: ClassVar[str]

    @classmethod
    def of(cls, row: Transcription | Speech):
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "audio_url"}
        return cls(**fields, audio_url=f"/api/{cls.KIND}/{row.id}/audio")


class TranscriptionOut(StoredOut):
    KIND: ClassVar[str] = "transcriptions"
    id: int
    name: str
    text: str
    raw_text: str
    words: list[Word] | None = Field(description="word timestamps, when the served asr model gives them")
    duration_s: float
    inference_time_s: float
    audio_url: str
    media_type: str
    created_at: datetime


class SpeechIn(BaseModel):
    text: Text
    seed: Seed = 0


class SpeechOut(StoredOut):
    KIND: ClassVar[str] = "speech"
    id: int
    text: str
    seed: int
    duration_s: float
    sample_rate: int
    step_limit_reached: bool
    inference_time_s: float
    audio_url: str
    created_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class OpenAISpeechIn(BaseModel):
    """OpenAI's ``/v1/audio/speech`` body. One voice: ``voice`` is accepted and ignored."""

    model: str = "tts"
    input: Text
    voice: str | None = None
    response_format: Literal["wav", "flac"] = "wav"
    speed: float = Field(1.0, description="only 1.0")
    seed: Seed = 0


TranscriptionFormat = Literal["json", "text", "verbose_json"]


def verbose_json(recognition: Recognition, duration_s: float) -> dict:
    """OpenAI's ``verbose_json``: the text as one segment over the whole audio, and the words with their times
    when the served model gives them (else no ``words``)."""
    text = recognition.transcript.text
    answer = {"task": "transcribe", "language": "english", "duration": round(duration_s, 3), "text": text,
              "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": round(duration_s, 3), "text": text}]}
    if recognition.words is not None:
        answer["words"] = recognition.words
    return answer


# --- live captions (the WebSocket /api/transcriptions/live) --------------------------------------------------------

class LiveStart(BaseModel):
    """The first message of a live stream: what its binary frames hold (PCM, one channel, little-endian)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["start"]
    sample_rate: int = Field(description="of the frames, e.g. the browser's AudioContext rate (8000-192000)")
    format: Literal["s16le", "f32le"] = "s16le"
    name: Name | None = Field(None, description="shown in the history (default: 'live recording')")


class LiveStop(BaseModel):
    """The client's last message: the recording ends here."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["stop"]
