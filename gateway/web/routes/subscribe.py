"""Public subscription pages: subscribe from the tracking page, confirm from the email (double opt-in), and the
one-click unsubscribe of RFC 8058 that mail clients call with `List-Unsubscribe=One-Click`.

Links in mail are opened by scanners and previewers, so GET never changes anything: it shows a button that POSTs.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.resident import confirm, subscribe, unsubscribe
from gateway.signing import Signer
from gateway.web.auth import get_signer
from gateway.web.deps import WebContext, web_context
from gateway.web.ratelimit import client_address, limiter

router = APIRouter()


def _page(ctx: WebContext, request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    response = ctx.templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # tokens are in these URLs
    return response


@router.post("/track/{tracking_number}/subscribe", response_model=None)
async def post_subscribe(
    tracking_number: str,
    request: Request,
    t: str = Form(..., max_length=100),
    email: str = Form(..., max_length=320),
    lang: str = Form("en", max_length=8),
    ctx: WebContext = Depends(web_context),
) -> Response:
    back = f"/track/{tracking_number[:32]}?" + urlencode({"t": t})
    email = email.strip()
    if "@" not in email or " " in email or len(email) < 3:
        return RedirectResponse(back + "&subscribe=invalid#subscribe", status_code=303)
    per_hour = ctx.settings.web.subscribe_per_hour
    if not limiter(request, "subscribe", per_period=per_hour, period_seconds=3600).allow(client_address(request)):
        return RedirectResponse(back + "&subscribe=later#subscribe", status_code=303)
    result = await subscribe(
        db=ctx.db,
        services=ctx.services,
        tracking_number=tracking_number[:32],
        public_token=t,
        email=email,
        language=lang if lang in ("en", "es") else "en",
    )
    if result is None:
        return _page(ctx, request, "track_missing.html", status_code=404)
    # The same answer whether or not the address was subscribed already: the page must not tell who follows what.
    return RedirectResponse(back + "&subscribe=sent#subscribe", status_code=303)


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
async def confirm_form(token: str, request: Request, ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    return _page(ctx, request, "public_action.html", action=f"/subscribe/confirm/{token}", kind="confirm")


@router.post("/subscribe/confirm/{token}", response_class=HTMLResponse)
async def confirm_post(token: str, request: Request, ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    number = await confirm(db=ctx.db, token=token[:100])
    if number is None:
        return _page(ctx, request, "public_action.html", status_code=404, kind="confirm-unknown")
    return _page(ctx, request, "public_action.html", kind="confirmed", number=number)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_form(token: str, request: Request, ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    return _page(ctx, request, "public_action.html", action=f"/unsubscribe/{token}", kind="unsubscribe")


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_post(
    token: str, request: Request, ctx: WebContext = Depends(web_context), signer: Signer = Depends(get_signer)
) -> HTMLResponse:
    """Both the button on our page and a mail client's RFC 8058 one-click POST land here; no cookie is needed."""
    done = await unsubscribe(db=ctx.db, signer=signer, token=token[:1000])
    return _page(
        ctx,
        request,
        "public_action.html",
        status_code=200 if done else 404,
        kind="unsubscribed" if done else "unsubscribe-unknown",
    )
