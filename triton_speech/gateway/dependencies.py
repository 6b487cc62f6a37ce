"""What the routes are given (FastAPI ``Depends``): the settings, the database, the media store and the inference
service the application opened at start, and the caller (the API key a request came with, checked by
``access.Authenticate``; a WebSocket's is ``connection_caller``). Tests swap any of them with
``app.dependency_overrides``, e.g. a fake inference service so the routes run without Triton."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

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


def settings(connection: HTTPConnection) -> GatewaySettings:
    return connection.app.state.services.settings


def database(connection: HTTPConnection) -> Database:
    return connection.app.state.services.database


def media(connection: HTTPConnection) -> MediaStore:
    return connection.app.state.services.media


def inference(connection: HTTPConnection) -> Inference:
    return connection.app.state.services.inference


def slots(connection: HTTPConnection) -> InferenceSlots:
    return connection.app.state.services.slots


SettingsDep = Annotated[GatewaySettings, Depends(settings)]
DatabaseDep = Annotated[Database, Depends(database)]
MediaDep = Annotated[MediaStore, Depends(media)]
InferenceDep = Annotated[Inference, Depends(inference)]
SlotsDep = Annotated[InferenceSlots, Depends(slots)]


# Documents the key in the OpenAPI page (its Authorize button); access.Authenticate checks it before the route runs
API_KEY = HTTPBearer(auto_error=False, scheme_name="API key",
                     description="python -m triton_speech.gateway keys create NAME")


def caller(request: Request, _key=Security(API_KEY)) -> Caller:
    return request.state.caller  # access.Authenticate put it there


CallerDep = Annotated[Caller, Depends(caller)]


def connection_caller(connection: HTTPConnection) -> Caller:
    """The caller of a WebSocket (whose key comes as a header or a subprotocol, see ``access``)."""
    return connection.state.caller


ConnectionCallerDep = Annotated[Caller, Depends(connection_caller)]


async def inference_slot(request: Request, who: CallerDep) -> AsyncIterator[None]:
    """One of the caller's inference requests in flight (429 beyond ``APP_MAX_CONCURRENT_INFERENCE``)."""
    with request.app.state.services.slots.hold(who):
        yield


InferenceSlot = Depends(inference_slot)
