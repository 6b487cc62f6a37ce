"""The work behind the routes, apart from routing: an upload decoded within the limits, Triton asked, a result
stored as a row and its file (or neither)."""

from __future__ import annotations

import logging

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from triton_speech import defaults
from triton_speech.gateway import audio
from triton_speech.gateway.database import Database, Row
from triton_speech.gateway.errors import APIError, triton_errors
from triton_speech.gateway.inference import Inference, Recognition, Spoken
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
    samples, offset_s = audio.for_asr(decoded, settings.trim_silence)
    with triton_errors():
        return await inference.recognize(samples, request_id.get(), offset_s)


async def speak(inference: Inference, text: str, seed: int) -> Spoken:
    with triton_errors():
        return await inference.synthesize(text, seed, request_id.get())


async def store(database: Database, media: MediaStore, kind: str, row: Row, data: bytes, suffix: str) -> None:
    """The file first, then its row: a row never points at a missing file. A row that cannot be written takes its
    file with it; a crash in between leaves a file no row names, which the media sweep removes."""
    row.audio_file = await run_in_threadpool(media.save, kind, data, suffix)
    try:
        await run_in_threadpool(database.add, row)
    except BaseException:
        await run_in_threadpool(media.delete, kind, row.audio_file)
        raise


async def found(database: Database, model: type[Row], kind: str, row_id: int) -> Row:
    row = await run_in_threadpool(database.get, model, row_id)
    if row is None:
        raise APIError(404, f"no {kind} entry {row_id}")
    return row


async def delete(database: Database, media: MediaStore, model: type[Row], kind: str, row_id: int) -> None:
    """The row, then its file (a crash in between leaves a file no row names, for the media sweep)."""
    row = await run_in_threadpool(database.delete, model, row_id)
    if row is None:
        raise APIError(404, f"no {kind} entry {row_id}")
    await run_in_threadpool(media.delete, kind, row.audio_file)
    log.info("deleted %s %d", kind, row_id)
