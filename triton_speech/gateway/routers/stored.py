"""Stored results (the seed's ``ASRText`` and ``TTSSound``): create, list newest first, read, fetch the audio,
delete; each row its caller's own (other callers get 404 for it and never see it listed)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from triton_speech.gateway import audio, handlers
from triton_speech.gateway.database import Row, Speech, Transcription
from triton_speech.gateway.dependencies import (
    CallerDep,
    DatabaseDep,
    InferenceDep,
    InferenceSlot,
    MediaDep,
    SettingsDep,
)
from triton_speech.gateway.protocol import (
    ErrorResponse,
    Name,
    Offset,
    Page,
    RowId,
    SpeechIn,
    SpeechOut,
    StoredOut,
    TranscriptionOut,
    plain_name,
)

log = logging.getLogger("triton_speech.gateway")
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 429, 503)}
router = APIRouter(prefix="/api", tags=["stored"], responses=ERRORS)


@router.post("/transcriptions", status_code=201, response_model=TranscriptionOut, dependencies=[InferenceSlot],
             summary="Transcribe a recording and store it with its transcript")
async def create_transcription(
    settings: SettingsDep, database: DatabaseDep, media: MediaDep, inference: InferenceDep, caller: CallerDep,
    file: Annotated[UploadFile, File(description="WAV, FLAC, OGG, WebM, MP3, MP4/M4A or AAC")],
    name: Annotated[Name | None, Form(description="shown in the history (default: the file's name)")] = None,
):
    data, decoded = await handlers.read_upload(file, settings)
    recognition = await handlers.recognize(inference, decoded, settings)
    row = handlers.transcription(caller, name or plain_name(file.filename or "") or "recording", recognition, decoded)
    await handlers.store(database, media, "transcriptions", row, data, decoded.suffix)
    log.info("stored transcription %d (%.2f s of audio)", row.id, decoded.seconds)
    return TranscriptionOut.of(row)


@router.post("/speech", status_code=201, response_model=SpeechOut, dependencies=[InferenceSlot],
             summary="Speak a text and store the WAV")
async def create_speech(body: SpeechIn, database: DatabaseDep, media: MediaDep, inference: InferenceDep,
                        caller: CallerDep):
    spoken = await handlers.speak(inference, body.text, body.seed)
    synthesis = spoken.synthesis
    data = await run_in_threadpool(audio.encode, synthesis.audio, synthesis.sample_rate)
    row = Speech(key_id=caller.key_id, text=body.text, seed=body.seed, sample_rate=synthesis.sample_rate,
                 duration_s=round(synthesis.audio.shape[0] / synthesis.sample_rate, 3),
                 step_limit_reached=synthesis.step_limit_reached, inference_time_s=round(spoken.seconds, 4))
    await handlers.store(database, media, "speech", row, data, ".wav")
    log.info("stored speech %d (%.2f s of audio)", row.id, row.duration_s)
    return SpeechOut.of(row)


def resource(model: type[Row], out: type[StoredOut]) -> None:
    """List, read, delete and the audio file of one stored kind."""
    kind, describe = out.KIND, out.of

    @router.get(f"/{kind}", response_model=Page[out], summary=f"Stored {kind}, newest first")
    async def listing(database: DatabaseDep, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                      offset: Annotated[Offset, Query()] = 0):
        rows, total = await run_in_threadpool(database.page, model, limit, offset, caller.key_id)
        return {"items": [describe(row) for row in rows], "total": total}

    @router.get(f"/{kind}/{{row_id}}", response_model=out, summary=f"One of the {kind}")
    async def read(database: DatabaseDep, caller: CallerDep, row_id: RowId):
        return describe(await handlers.found(database, model, kind, row_id, caller))

    @router.get(f"/{kind}/{{row_id}}/audio", response_class=FileResponse, summary="Its audio file")
    async def audio_file(database: DatabaseDep, media: MediaDep, caller: CallerDep, row_id: RowId):
        row = await handlers.found(database, model, kind, row_id, caller)
        return await run_in_threadpool(media.response, kind, row.audio_file, getattr(row, "media_type", "audio/wav"))

    @router.delete(f"/{kind}/{{row_id}}", status_code=204, summary="Delete it and its file")
    async def delete(database: DatabaseDep, media: MediaDep, caller: CallerDep, row_id: RowId):
        await handlers.delete(database, media, model, kind, row_id, caller)
        return Response(status_code=204)


resource(Transcription, TranscriptionOut)
resource(Speech, SpeechOut)
