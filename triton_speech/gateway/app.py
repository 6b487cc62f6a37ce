"""The gateway: REST API (OpenAI-compatible audio endpoints and stored resources) and the web app.

Every model runs in Triton; this process decodes uploads, asks Triton over one asyncio gRPC connection, stores
results (database rows, files in the media directory) and serves the page. ``create_app(settings)`` builds it from
the routers (``routers/``), the schemas (``protocol.py``), the work behind the routes (``handlers.py``) and the
services the routes are given (``dependencies.py``); ``python -m triton_speech.gateway`` (``make app``) runs it with
Triton.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from triton_speech.gateway import errors
from triton_speech.gateway.database import Database
from triton_speech.gateway.dependencies import Services
from triton_speech.gateway.inference import Inference
from triton_speech.gateway.middleware import MULTIPART_SLACK_BYTES, RequestContext, install_log_record_factory
from triton_speech.gateway.routers import health, openai, stored, web
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.gateway.storage import MediaStore

__all__ = ["create_app", "install_log_record_factory"]


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
    errors.install(app)
    for router in (openai.router, stored.router, health.router, web.router):
        app.include_router(router)
    web.mount_files(app)
    return app
