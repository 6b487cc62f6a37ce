"""What the routes are given (FastAPI ``Depends``): the settings, the database, the media store and the inference
service the application opened at start, and the caller (the API key a request came with, checked by
``access.Authenticate``). Tests swap any of them with ``app.dependency_overrides``, e.g. a fake inference service so
the routes run without Triton."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from triton_speech.gateway.database import Database
from triton_speech.gateway.inference import Inference
from triton_speech.gateway.keys import Caller
from triton_speech.gateway.limits import InferenceSlots
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore


@dataclass
class Services:
    settings: GatewaySettings
    database: Database
    media: MediaStore
    inference: Inference
    slots: InferenceSlots


def settings(request: Request) -> GatewaySettings:
    return request.app.state.services.settings


def database(request: Request) -> Database:
    return request.app.state.services.database


def media(request: Request) -> MediaStore:
    return request.app.state.services.media


def inference(request: Request) -> Inference:
    return request.app.state.services.inference


SettingsDep = Annotated[GatewaySettings, Depends(settings)]
DatabaseDep = Annotated[Database, Depends(database)]
MediaDep = Annotated[MediaStore, Depends(media)]
InferenceDep = Annotated[Inference, Depends(inference)]


# Documents the key in the OpenAPI page (its Authorize button); access.Authenticate checks it before the route runs
API_KEY = HTTPBearer(auto_error=False, scheme_name="API key",
                     description="python -m triton_speech.gateway keys create NAME")


def caller(request: Request, _key=Security(API_KEY)) -> Caller:
    return request.state.caller  # access.Authenticate put it there


CallerDep = Annotated[Caller, Depends(caller)]


async def inference_slot(request: Request, who: CallerDep) -> AsyncIterator[None]:
    """One of the caller's inference requests in flight (429 beyond ``APP_MAX_CONCURRENT_INFERENCE``)."""
    with request.app.state.services.slots.hold(who):
        yield


InferenceSlot = Depends(inference_slot)
