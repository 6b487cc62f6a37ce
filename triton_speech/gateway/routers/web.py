"""The web page (``/`` and its ``/static`` files) and the API documentation (``/docs``, Swagger UI from the
swagger-ui-bundle wheel, not a CDN: the page works offline and loads nothing foreign)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"
# The page loads only its own scripts and styles; audio comes from here or from the microphone (blob:).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer"}
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def page():
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/docs")
async def docs():
    return get_swagger_ui_html(openapi_url="/openapi.json", title="triton-speech gateway API",
                               swagger_js_url="/docs-static/swagger-ui-bundle.js",
                               swagger_css_url="/docs-static/swagger-ui.css",
                               swagger_favicon_url="/docs-static/favicon-32x32.png")


def mount_files(app: FastAPI) -> None:
    """The page's scripts and the documentation's, as static files."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_path), name="docs-static")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
