"""Health for load balancers and orchestrators: ``/health`` ready (Triton ready and the database answering),
``/health/live`` (the process answers)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from triton_speech.gateway.database import CONNECT_TIMEOUT_S
from triton_speech.gateway.dependencies import DatabaseDep, InferenceDep

log = logging.getLogger("triton_speech.gateway")

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", summary="Ready when Triton is ready and the database answers (503 otherwise)")
async def ready(inference: InferenceDep, database: DatabaseDep):
    triton, database_answers = await asyncio.gather(inference.ready(), answers(database))
    problems = [problem for problem, ok in (("Triton is not ready", triton),
                                            ("the database does not answer", database_answers)) if not ok]
    if not problems:
        return {"status": "ready"}
    return JSONResponse({"status": "not ready", "detail": "; ".join(problems)}, 503)


async def answers(database) -> bool:
    try:
        await asyncio.wait_for(run_in_threadpool(database.ping), CONNECT_TIMEOUT_S)
        return True
    except Exception as error:  # unreachable, refusing, timing out: not ready, whatever the cause
        log.warning("database health check: %s", str(error).splitlines()[0] if str(error) else type(error).__name__)
        return False


@router.get("/live", summary="The gateway process answers")
async def live():
    return {"status": "live"}
