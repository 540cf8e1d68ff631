"""The public report form, `/report`: embeddable in a city's site with an iframe, no login, no cookies.

A submission goes through the same pipeline as email and SMS: it is stored raw (channel "web", through the
RawWriter, committed before we answer) and the worker makes the ticket. Limits: submissions per client address,
photo count, size and type (sniffed from the bytes), and a signed form token that also makes a double submit one
report (its nonce is the idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from gateway.ingest.writer import IngestError, RawWriter
from gateway.signing import Signer
from gateway.web.auth import get_signer
from gateway.web.deps import WebContext, web_context
from gateway.web.ratelimit import client_address, limiter
from gateway.web.report_form import ReportProblem, read_report, report_categories
from parsers.webform import build_web_report
from storage.models import utcnow
from storage.raw import NewRaw
from storage.reports import submission_outcome

log = logging.getLogger(__name__)
router = APIRouter()

FORM_PURPOSE = "report-form"
RECEIPT_PURPOSE = "report-receipt"
FORM_MAX_AGE = 24 * 3600.0
WAIT_SECONDS = 5.0  # how long the thank-you page waits for the tracking number before saying it will follow


def page_language(request: Request, lang: str | None) -> str:
    if lang in ("en", "es"):
        return lang
    accept = request.headers.get("accept-language", "").lower()
    return "es" if accept.startswith("es") else "en"


def _page(ctx: WebContext, request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    response = ctx.templates.TemplateResponse(request, template, context, status_code=status_code)
    web = ctx.settings.web
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {web.report_frame_ancestors}"
    )
    response.headers["Permissions-Policy"] = "geolocation=(self)"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _enabled(ctx: WebContext) -> None:
    if not ctx.settings.web.report_enabled:
        raise HTTPException(status_code=404)


@router.get("/report", response_class=HTMLResponse)
async def report_form(
    request: Request,
    lang: str | None = None,
    ctx: WebContext = Depends(web_context),
    signer: Signer = Depends(get_signer),
) -> HTMLResponse:
    _enabled(ctx)
    return _page(
        ctx,
        request,
        "report.html",
        lang=page_language(request, lang),
        token=signer.sign(FORM_PURPOSE, {"n": secrets.token_urlsafe(16)}),
        categories=report_categories(ctx.settings),
        limits=ctx.settings.web,
        problems=[],
        values={},
    )


@router.post("/report", response_model=None)
async def submit_report(
    request: Request, ctx: WebContext = Depends(web_context), signer: Signer = Depends(get_signer)
) -> Response:
    _enabled(ctx)
    web = ctx.settings.web
    if not limiter(request, "report", per_period=web.report_per_hour, period_seconds=3600).allow(
        client_address(request)
    ):
        return _page(ctx, request, "report_done.html", status_code=429, lang=page_language(request, None), state="busy")
    form = await request.form(max_files=web.report_max_photos + 1, max_fields=40)
    lang = page_language(request, str(form.get("lang") or ""))
    token = signer.unsign(FORM_PURPOSE, str(form.get("token") or ""), max_age=FORM_MAX_AGE)
    if token is None or not isinstance(token.get("n"), str):
        return _page(ctx, request, "report_done.html", status_code=400, lang=lang, state="expired")
    if form.get("website"):  # the field people cannot see: only robots fill it in
        log.info("report: honeypot filled; dropped")
        return RedirectResponse(f"/report/received/{signer.sign(RECEIPT_PURPOSE, {'n': ''})}", status_code=303)
    uploads = [f for f in form.getlist("photo") if isinstance(f, UploadFile) and f.filename]
    try:
        report = await read_report(form, uploads, ctx.settings)
    except ReportProblem as problem:
        return _page(
            ctx,
            request,
            "report.html",
            status_code=400,
            lang=lang,
            token=signer.sign(FORM_PURPOSE, token),
            categories=report_categories(ctx.settings),
            limits=web,
            problems=problem.codes,
            values={k: v for k, v in form.items() if isinstance(v, str)},
        )
    raw = build_web_report(**report, language=lang, submitted_at=utcnow().isoformat())
    writer: RawWriter = ctx.parts["writer"]
    key = f"web:{token['n']}"
    try:
        await writer.store(
            NewRaw(channel="web", source="web-form", idempotency_key=key, raw=raw, envelope_from=report["email"])
        )
    except IngestError:
        return _page(ctx, request, "report_done.html", status_code=503, lang=lang, state="unavailable")
    return RedirectResponse(f"/report/received/{signer.sign(RECEIPT_PURPOSE, {'n': token['n']})}", status_code=303)


@router.get("/report/received/{receipt}", response_class=HTMLResponse)
async def report_received(
    receipt: str,
    request: Request,
    lang: str | None = None,
    ctx: WebContext = Depends(web_context),
    signer: Signer = Depends(get_signer),
) -> HTMLResponse:
    data = signer.unsign(RECEIPT_PURPOSE, receipt, max_age=FORM_MAX_AGE)
    if data is None:
        raise HTTPException(status_code=404)
    outcome = None
    deadline = time.monotonic() + WAIT_SECONDS
    while data.get("n"):
        async with ctx.db.read() as session:
            outcome = await submission_outcome(session=session, idempotency_key=f"web:{data['n']}")
        if outcome is None or not outcome.pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    tracking_url = None
    if outcome is not None and outcome.tracking_number:
        tracking_url = f"/track/{outcome.tracking_number}?t={outcome.public_token}"
    return _page(
        ctx,
        request,
        "report_done.html",
        lang=page_language(request, lang),
        state="received",
        number=outcome.tracking_number if outcome else None,
        tracking_url=tracking_url,
    )
