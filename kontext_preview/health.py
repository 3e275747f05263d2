"""What probes and monitoring read: /healthz (alive), /readyz (can serve), /metrics.

None of them needs an API key: they say nothing about any session but counts. Keep them
(like the API) on a network only the operator reaches.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from kontext_preview.contract import SessionManager
from kontext_preview.metrics import Metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, Any]:
    return {"ok": True}


@router.get("/readyz", summary="Ready to serve", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    sessions: SessionManager = request.app.state.sessions
    problems = await sessions.readiness()
    return JSONResponse({"ready": not problems, "problems": problems}, 503 if problems else 200)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    sessions: SessionManager = request.app.state.sessions
    collected: Metrics = request.app.state.metrics
    body = collected.render(await sessions.status_counts())
    return Response(body, media_type=CONTENT_TYPE_LATEST)
