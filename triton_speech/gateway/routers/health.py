"""Health for load balancers and orchestrators: ``/health`` ready (Triton ready), ``/health/live`` (the process
answers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from triton_speech.gateway.dependencies import InferenceDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", summary="Ready when Triton is ready (503 otherwise)")
async def ready(inference: InferenceDep):
    if await inference.ready():
        return {"status": "ready"}
    return JSONResponse({"status": "not ready", "detail": "Triton is not ready"}, 503)


@router.get("/live", summary="The gateway process answers")
async def live():
    return {"status": "live"}
