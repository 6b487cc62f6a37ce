"""The gateway: REST API (OpenAI-compatible audio endpoints and stored resources) and the web app.

Every model runs in Triton; this process decodes uploads, asks Triton over one asyncio gRPC connection, stores
results (database rows, files in the media directory or bucket) and serves the page. ``create_app(settings)`` builds
it from the routers (``routers/``), the schemas (``protocol.py``), the work behind the routes (``handlers.py``) and the
services the routes are given (``dependencies.py``); ``python -m triton_speech.gateway`` (``make app``) runs it with
Triton.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from triton_speech.gateway import errors
from triton_speech.gateway.access import Authenticate, HostsAndOrigins
from triton_speech.gateway.database import Database, Speech, Transcription
from triton_speech.gateway.dependencies import Services
from triton_speech.gateway.inference import Inference
from triton_speech.gateway.limits import InferenceSlots
from triton_speech.gateway.middleware import MULTIPART_SLACK_BYTES, RequestContext, install_log_record_factory
from triton_speech.gateway.routers import health, live, openai, stored, web
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore, media_store

__all__ = ["create_app", "install_log_record_factory"]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    install_log_record_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        database = Database(settings.database_url)
        await run_in_threadpool(database.migrate)
        media = await run_in_threadpool(media_store, settings.media_url, settings.media_dir,
                                        settings.media_sweep_grace_s)
        await run_in_threadpool(sweep, database, media)
        inference = Inference(settings.triton_url, settings.triton_retries)
        await inference.open()
        app.state.services = Services(settings, database, media, inference,
                                      InferenceSlots(settings.max_concurrent_inference))
        try:
            yield
        finally:
            await inference.close()
            database.close()

    app = FastAPI(title="triton-speech gateway", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Speech to text and text to speech served by Triton: OpenAI-compatible audio "
                              "endpoints (`/v1/audio/...`) and stored results (`/api/...`).")
    # The first added runs last: the request's id and log line around everything, then its host and origin, then
    # CORS answers for the allowed origins, then its key.
    app.add_middleware(Authenticate, anonymous=settings.anonymous, rate_limit=settings.rate_limit)
    if settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"], max_age=600)
    app.add_middleware(HostsAndOrigins, allowed_hosts=settings.allowed_hosts,
                       allowed_origins=settings.allowed_origins)
    app.add_middleware(RequestContext, max_body_bytes=settings.max_upload_bytes + MULTIPART_SLACK_BYTES)
    errors.install(app)
    for router in (openai.router, stored.router, live.router, health.router, web.router):
        app.include_router(router)
    web.mount_files(app)
    return app


def sweep(database: Database, media: MediaStore) -> None:
    """Remove media files no row names (a crash between a file and its row, or between a row's delete and its
    file's)."""
    for kind, model in (("transcriptions", Transcription), ("speech", Speech)):
        named = database.audio_files(model)
        media.sweep(kind, lambda name, model=model, named=named: name in named or database.names_file(model, name))
