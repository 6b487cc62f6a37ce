"""The work behind the routes, apart from routing: an upload decoded within the limits, Triton asked, a result
stored as a row and its file (or neither)."""

from __future__ import annotations

import logging

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from triton_speech import defaults
from triton_speech.gateway import audio
from triton_speech.gateway.database import Database, Row, Transcription
from triton_speech.gateway.errors import APIError, triton_errors
from triton_speech.gateway.inference import Inference, Recognition, Spoken
from triton_speech.gateway.keys import Caller
from triton_speech.gateway.middleware import request_id
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore

log = logging.getLogger("triton_speech.gateway")


async def read_upload(file: UploadFile, settings: GatewaySettings) -> tuple[bytes, audio.DecodedAudio]:
    """The uploaded file and its audio (16 kHz mono); 413 over the byte limit, 400 for what is not usable audio."""
    limit = settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise APIError(413, f"the file is larger than the {limit} bytes allowed", "file")
    try:
        decoded = await run_in_threadpool(audio.decode, data, defaults.ASR_SAMPLE_RATE, settings.max_audio_seconds)
    except audio.AudioError as error:
        raise APIError(400, str(error), "file") from None
    return data, decoded


async def recognize(inference: Inference, decoded: audio.DecodedAudio, settings: GatewaySettings) -> Recognition:
    """As an upload is transcribed; a live recording longer than uploads may be (which only live streams are) goes
    to ``asr_long``."""
    samples, offset_s = audio.for_asr(decoded, settings.trim_silence)
    with triton_errors():
        if decoded.seconds > settings.max_audio_seconds:
            return await inference.recognize(samples, request_id.get(), offset_s, long=True)
        return await inference.recognize(samples, request_id.get(), offset_s)


def transcription(caller: Caller, name: str, recognition: Recognition, decoded: audio.DecodedAudio) -> Transcription:
    """The row of a transcribed recording (its file still to be stored)."""
    return Transcription(key_id=caller.key_id, name=name, text=recognition.transcript.text,
                         raw_text=recognition.transcript.raw, words=recognition.words,
                         duration_s=round(decoded.seconds, 3), inference_time_s=round(recognition.seconds, 4),
                         media_type=decoded.media_type)


async def speak(inference: Inference, text: str, seed: int) -> Spoken:
    with triton_errors():
        return await inference.synthesize(text, seed, request_id.get())


async def store(database: Database, media: MediaStore, kind: str, row: Row, data: bytes, suffix: str) -> None:
    """The file first, then its row, the file locked until the row is in (see ``MediaStore.sweep``): a row never
    points at a missing file, and a row that cannot be written takes its file with it."""

    def write() -> None:
        with media.saving(kind, data, suffix) as name:
            row.audio_file = name
            database.add(row)

    await run_in_threadpool(write)


async def found(database: Database, model: type[Row], kind: str, row_id: int, caller: Caller) -> Row:
    """The caller's row; 404 for rows that do not exist and for other callers' rows alike."""
    row = await run_in_threadpool(database.get, model, row_id, caller.key_id)
    if row is None:
        raise APIError(404, f"no {kind} entry {row_id}")
    return row


async def delete(database: Database, media: MediaStore, model: type[Row], kind: str, row_id: int,
                 caller: Caller) -> None:
    """The caller's row, then its file (a crash in between leaves a file no row names, for the media sweep)."""
    audio_file = await run_in_threadpool(database.delete, model, row_id, caller.key_id)
    if audio_file is None:
        raise APIError(404, f"no {kind} entry {row_id}")
    await run_in_threadpool(media.delete, kind, audio_file)
    log.info("deleted %s %d", kind, row_id)
