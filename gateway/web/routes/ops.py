"""Operations: `/healthz` (503 when degraded) and `/metrics` (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.web.deps import WebContext, web_context
from storage.outbox import count_outbox_by_state
from storage.raw import count_raw_by_state

router = APIRouter()


@router.get("/healthz")
async def healthz(ctx: WebContext = Depends(web_context)) -> JSONResponse:
    ok, details = await ctx.health()
    return JSONResponse({"status": "ok" if ok else "degraded", **details}, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(ctx: WebContext = Depends(web_context)) -> Response:
    async def refresh() -> tuple[dict[str, int], dict[str, int]]:
        async with ctx.db.read() as session:
            return await count_raw_by_state(session=session), await count_outbox_by_state(session=session)

    return Response(await ctx.metrics.render(refresh), media_type=CONTENT_TYPE_LATEST)
