"""The gateway: REST API (OpenAI-compatible audio endpoints and the seed's stored resources) and the web app.

Every model runs in Triton; this process decodes uploads, asks Triton over one asyncio gRPC connection, stores
results (database rows, files in the media directory) and serves the page. ``create_app(settings)`` builds it;
``python -m triton_speech.gateway`` (``make app``) runs it with Triton.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from triton_speech import defaults
from triton_speech.client.connection import InferenceError, ServerUnavailable
from triton_speech.gateway import audio
from triton_speech.gateway.database import Database, Row, Speech, Transcription
from triton_speech.gateway.inference import Inference, Recognition
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore

log = logging.getLogger("triton_speech.gateway")
STATIC = Path(__file__).resolve().parent / "static"
REQUEST_ID_HEADER = "x-request-id"
# A client's own request id is kept when it is short and plain (it goes into logs); otherwise a new one is made.
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Room for the multipart boundaries and the form's small fields on top of the file itself.
MULTIPART_SLACK_BYTES = 64 * 1024
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def install_log_record_factory() -> None:
    """Give every log record of this process a ``request_id`` (``-`` outside requests), for the log format."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    factory.adds_request_id = True
    logging.setLogRecordFactory(factory)


class APIError(Exception):
    """An answer other than success, with a message for the person or program that asked."""

    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def error_response(status: int, message: str, param: str | None = None) -> JSONResponse:
    """OpenAI's error shape, which its clients read: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}}, status)


class RequestContext:
    """ASGI middleware: a request id per request (the client's ``X-Request-ID`` if plain, else a new one) in the
    logs and the answer's header, one log line per request, and the body limit: a request larger than
    ``max_body_bytes`` is answered 413 without being read further."""

    def __init__(self, app, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        rid = given if CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started, status, received, too_large = time.perf_counter(), 0, 0, False
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = True

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                too_large = True
                raise APIError(413, self._too_large_message())
            return message

        async def answer(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (REQUEST_ID_HEADER.encode(), rid.encode()),
                                                  (b"x-content-type-options", b"nosniff")]}
            await send(message)

        async def too_large_answer():
            await error_response(413, self._too_large_message(), "file")(scope, receive, answer)

        async def send_or_replace(message):
            # Once the body went over the limit, whatever the app says about its unreadable body becomes the 413.
            if not too_large:
                await answer(message)
            elif message["type"] == "http.response.start" and not status:
                await too_large_answer()

        try:
            if too_large:  # declared too large: never read, so never spooled to disk
                await too_large_answer()
            else:
                await self.app(scope, limited_receive, send_or_replace)
        except Exception:
            if not (too_large and not status):
                raise
            await too_large_answer()
        finally:
            log.info("%s %s -> %s in %.1f ms", scope["method"], scope["path"], status,
                     (time.perf_counter() - started) * 1000)
            request_id.reset(token)

    def _too_large_message(self) -> str:
        return f"the request is larger than the {self.max_body_bytes - MULTIPART_SLACK_BYTES} bytes allowed"


@dataclass
class Services:
    settings: GatewaySettings
    database: Database
    media: MediaStore
    inference: Inference


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


# --- what the API answers ---------------------------------------------------------------------------------------

class Word(BaseModel):
    word: str
    start: float
    end: float
    confidence: float | None = None


T = TypeVar("T")


class TranscriptionOut(BaseModel):
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
    text: str = Field(min_length=1, max_length=defaults.MAX_TEXT_CHARS)
    seed: int = Field(0, ge=0, description="the same text and seed give the same audio")


class SpeechOut(BaseModel):
    id: int
    text: str
    seed: int
    duration_s: float
    sample_rate: int
    step_limit_reached: bool
    inference_time_s: float
    audio_url: str
    created_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class OpenAISpeechIn(BaseModel):
    """OpenAI's ``/v1/audio/speech`` body. One voice: ``voice`` is accepted and ignored."""

    model: str = "tts"
    input: str = Field(min_length=1, max_length=defaults.MAX_TEXT_CHARS)
    voice: str | None = None
    response_format: Literal["wav", "flac"] = "wav"
    speed: float = Field(1.0, description="only 1.0")
    seed: int = Field(0, ge=0)


def transcription_out(row: Transcription) -> TranscriptionOut:
    return TranscriptionOut(**{name: getattr(row, name) for name in TranscriptionOut.model_fields
                               if name != "audio_url"}, audio_url=f"/api/transcriptions/{row.id}/audio")


def speech_out(row: Speech) -> SpeechOut:
    return SpeechOut(**{name: getattr(row, name) for name in SpeechOut.model_fields if name != "audio_url"},
                     audio_url=f"/api/speech/{row.id}/audio")


def verbose_json(recognition: Recognition, duration_s: float) -> dict:
    """OpenAI's ``verbose_json``: the text as one segment over the whole audio, and the words with their times
    when the served model gives them (else no ``words``)."""
    text = recognition.transcript.text
    answer = {"task": "transcribe", "language": "english", "duration": round(duration_s, 3), "text": text,
              "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": round(duration_s, 3), "text": text}]}
    if recognition.words is not None:
        answer["words"] = recognition.words
    return answer


# --- the application ---------------------------------------------------------------------------------------------

def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    install_log_record_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        database = Database(settings.database_url)
        await run_in_threadpool(database.migrate)
        inference = Inference(settings.triton_url, settings.triton_retries)
        await inference.open()
        app.state.services = Services(settings, database, MediaStore(settings.media_dir), inference)
        try:
            yield
        finally:
            await inference.close()
            database.close()

    app = FastAPI(title="triton-speech gateway", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Speech to text and text to speech served by Triton: OpenAI-compatible audio "
                              "endpoints (`/v1/audio/...`) and stored results (`/api/...`).")
    app.add_middleware(RequestContext, max_body_bytes=settings.max_upload_bytes + MULTIPART_SLACK_BYTES)

    @app.exception_handler(APIError)
    async def api_error(_request, error: APIError):
        return error_response(error.status, error.message, error.param)

    @app.exception_handler(HTTPException)
    async def http_error(_request, error: HTTPException):
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, error: RequestValidationError):
        problems, param = [], None
        for problem in error.errors():
            location = [str(part) for part in problem["loc"] if part not in ("body", "query", "path")]
            param = param or (location[0] if location else None)
            if problem["type"] == "missing" and location == ["file"]:
                problems.append("send the recording as the multipart form field 'file'")
            else:
                problems.append(f"{'.'.join(location) or 'body'}: {problem['msg']}")
        return error_response(400, "; ".join(problems), param)

    def services(request: Request) -> Services:
        return request.app.state.services

    async def read_upload(request: Request, file: UploadFile) -> tuple[bytes, audio.DecodedAudio]:
        limit = services(request).settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise APIError(413, f"the file is larger than the {limit} bytes allowed", "file")
        try:
            decoded = await run_in_threadpool(audio.decode, data, defaults.ASR_SAMPLE_RATE,
                                              services(request).settings.max_audio_seconds)
        except audio.AudioError as error:
            raise APIError(400, str(error), "file") from None
        return data, decoded

    async def recognize(request: Request, decoded: audio.DecodedAudio) -> Recognition:
        samples, offset_s = audio.for_asr(decoded, services(request).settings.trim_silence)
        with triton_errors():
            return await services(request).inference.recognize(samples, request_id.get(), offset_s)

    async def speak(request: Request, text: str, seed: int):
        with triton_errors():
            return await services(request).inference.synthesize(text, seed, request_id.get())

    # --- OpenAI-compatible ------------------------------------------------------------------------------------

    @app.post("/v1/audio/transcriptions", tags=["OpenAI-compatible"],
              summary="Transcribe a recording (OpenAI's audio API); nothing is stored")
    async def openai_transcription(
        request: Request,
        file: Annotated[UploadFile, File(description="WAV, FLAC, OGG, WebM, MP3, MP4/M4A or AAC")],
        model: Annotated[str, Form()] = "asr",
        response_format: Annotated[Literal["json", "text", "verbose_json"], Form()] = "json",
        language: Annotated[str | None, Form(description="only English: 'en' or empty")] = None,
        prompt: Annotated[str | None, Form(description="accepted and ignored")] = None,
        temperature: Annotated[float | None, Form(description="accepted and ignored")] = None,
    ):
        if language not in (None, "", "en", "english"):
            raise APIError(400, f"language {language!r} is not supported: the model knows English ('en')",
                           "language")
        _, decoded = await read_upload(request, file)
        recognition = await recognize(request, decoded)
        if response_format == "text":
            return PlainTextResponse(recognition.transcript.text)
        if response_format == "verbose_json":
            return verbose_json(recognition, decoded.seconds)
        return {"text": recognition.transcript.text}

    @app.post("/v1/audio/speech", tags=["OpenAI-compatible"], response_class=Response,
              responses={200: {"content": {"audio/wav": {}, "audio/flac": {}}}},
              summary="Speak a text (OpenAI's audio API); nothing is stored")
    async def openai_speech(request: Request, body: OpenAISpeechIn):
        if body.speed != 1.0:
            raise APIError(400, "only speed 1.0 is supported", "speed")
        spoken = await speak(request, body.input, body.seed)
        speech = spoken.synthesis
        content = await run_in_threadpool(audio.encode, speech.audio, speech.sample_rate, body.response_format)
        return Response(content, media_type=f"audio/{body.response_format}")

    # --- stored resources (the seed's ASRText and TTSSound) ------------------------------------------------

    @app.post("/api/transcriptions", status_code=201, response_model=TranscriptionOut, tags=["stored"],
              summary="Transcribe a recording and store it with its transcript")
    async def create_transcription(
        request: Request,
        file: Annotated[UploadFile, File(description="WAV, FLAC, OGG, WebM, MP3, MP4/M4A or AAC")],
        name: Annotated[str | None, Form(max_length=255, description="shown in the history (default: the file's"
                                                                         " name)")] = None,
    ):
        data, decoded = await read_upload(request, file)
        recognition = await recognize(request, decoded)
        row = Transcription(name=(name or file.filename or "recording")[:255], text=recognition.transcript.text,
                            raw_text=recognition.transcript.raw, words=recognition.words,
                            duration_s=round(decoded.seconds, 3), inference_time_s=round(recognition.seconds, 4),
                            media_type=decoded.media_type)
        await store(request, "transcriptions", row, data, decoded.suffix)
        log.info("stored transcription %d (%.2f s of audio)", row.id, decoded.seconds)
        return transcription_out(row)

    @app.post("/api/speech", status_code=201, response_model=SpeechOut, tags=["stored"],
              summary="Speak a text and store the WAV")
    async def create_speech(request: Request, body: SpeechIn):
        spoken = await speak(request, body.text, body.seed)
        speech = spoken.synthesis
        data = await run_in_threadpool(audio.encode, speech.audio, speech.sample_rate)
        row = Speech(text=body.text, seed=body.seed, duration_s=round(speech.audio.shape[0] / speech.sample_rate, 3),
                     sample_rate=speech.sample_rate, step_limit_reached=speech.step_limit_reached,
                     inference_time_s=round(spoken.seconds, 4))
        await store(request, "speech", row, data, ".wav")
        log.info("stored speech %d (%.2f s of audio)", row.id, row.duration_s)
        return speech_out(row)

    async def store(request: Request, kind: str, row: Row, data: bytes, suffix: str) -> None:
        """The file first, then its row; a row never points at a missing file."""
        media, database = services(request).media, services(request).database
        row.audio_file = await run_in_threadpool(media.save, kind, data, suffix)
        try:
            await run_in_threadpool(database.add, row)
        except BaseException:
            media.delete(kind, row.audio_file)
            raise

    def resource(kind: str, model: type[Row], out: Callable, out_model: type[BaseModel]) -> None:
        """List, read, delete and the audio file of one stored kind."""

        async def found(request: Request, row_id: int) -> Row:
            row = await run_in_threadpool(services(request).database.get, model, row_id)
            if row is None:
                raise APIError(404, f"no {kind} entry {row_id}")
            return row

        @app.get(f"/api/{kind}", response_model=Page[out_model], tags=["stored"], summary=f"Stored {kind}, newest "
                 "first")
        async def listing(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                          offset: Annotated[int, Query(ge=0)] = 0):
            rows, total = await run_in_threadpool(services(request).database.page, model, limit, offset)
            return {"items": [out(row) for row in rows], "total": total}

        @app.get(f"/api/{kind}/{{row_id}}", response_model=out_model, tags=["stored"], summary=f"One of the {kind}")
        async def read(request: Request, row_id: int):
            return out(await found(request, row_id))

        @app.get(f"/api/{kind}/{{row_id}}/audio", response_class=FileResponse, tags=["stored"],
                 summary="Its audio file")
        async def audio_file(request: Request, row_id: int):
            row = await found(request, row_id)
            media_type = getattr(row, "media_type", "audio/wav")
            return FileResponse(services(request).media.path(kind, row.audio_file), media_type=media_type)

        @app.delete(f"/api/{kind}/{{row_id}}", status_code=204, tags=["stored"], summary="Delete it and its file")
        async def delete(request: Request, row_id: int):
            row = await run_in_threadpool(services(request).database.delete, model, row_id)
            if row is None:
                raise APIError(404, f"no {kind} entry {row_id}")
            await run_in_threadpool(services(request).media.delete, kind, row.audio_file)
            log.info("deleted %s %d", kind, row_id)
            return Response(status_code=204)

    resource("transcriptions", Transcription, transcription_out, TranscriptionOut)
    resource("speech", Speech, speech_out, SpeechOut)

    # --- health, docs and the page -------------------------------------------------------------------------

    @app.get("/health", tags=["health"], summary="Ready when Triton is ready (503 otherwise)")
    async def health(request: Request):
        if await services(request).inference.ready():
            return {"status": "ready"}
        return JSONResponse({"status": "not ready", "detail": "Triton is not ready"}, 503)

    @app.get("/health/live", tags=["health"], summary="The gateway process answers")
    async def live():
        return {"status": "live"}

    from swagger_ui_bundle import swagger_ui_path

    # Swagger UI from the swagger-ui-bundle wheel, not a CDN: the page works offline and loads nothing foreign.
    app.mount("/docs-static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="triton-speech gateway API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon-32x32.png")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def page():
        # The page loads only its own scripts and styles; audio comes from here or from the microphone (blob:).
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                                       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer"})

    return app
