"""OpenAI's audio API (``/v1/audio/transcriptions``, ``/v1/audio/speech``): answers only, nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from triton_speech.gateway import audio, handlers
from triton_speech.gateway.dependencies import InferenceDep, InferenceSlot, SettingsDep
from triton_speech.gateway.errors import APIError
from triton_speech.gateway.protocol import ErrorResponse, OpenAISpeechIn, TranscriptionFormat, verbose_json

ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 413, 429, 503)}
router = APIRouter(prefix="/v1/audio", tags=["OpenAI-compatible"], responses=ERRORS, dependencies=[InferenceSlot])


@router.post("/transcriptions", summary="Transcribe a recording (OpenAI's audio API); nothing is stored")
async def transcription(
    settings: SettingsDep, inference: InferenceDep,
    file: Annotated[UploadFile, File(description="WAV, FLAC, OGG, WebM, MP3, MP4/M4A or AAC")],
    model: Annotated[str, Form()] = "asr",
    response_format: Annotated[TranscriptionFormat, Form()] = "json",
    language: Annotated[str | None, Form(description="only English: 'en' or empty")] = None,
    prompt: Annotated[str | None, Form(description="accepted and ignored")] = None,
    temperature: Annotated[float | None, Form(description="accepted and ignored")] = None,
):
    if language not in (None, "", "en", "english"):
        raise APIError(400, f"language {language!r} is not supported: the model knows English ('en')", "language")
    _, decoded = await handlers.read_upload(file, settings)
    recognition = await handlers.recognize(inference, decoded, settings)
    if response_format == "text":
        return PlainTextResponse(recognition.transcript.text)
    if response_format == "verbose_json":
        return verbose_json(recognition, decoded.seconds)
    return {"text": recognition.transcript.text}


@router.post("/speech", response_class=Response, responses={200: {"content": {"audio/wav": {}, "audio/flac": {}}}},
             summary="Speak a text (OpenAI's audio API); nothing is stored")
async def speech(body: OpenAISpeechIn, inference: InferenceDep):
    if body.speed != 1.0:
        raise APIError(400, "only speed 1.0 is supported", "speed")
    spoken = await handlers.speak(inference, body.input, body.seed)
    synthesis = spoken.synthesis
    content = await run_in_threadpool(audio.encode, synthesis.audio, synthesis.sample_rate, body.response_format)
    return Response(content, media_type=f"audio/{body.response_format}")
