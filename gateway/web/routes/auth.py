"""Staff login and logout. Failed logins are counted per account (lockout with doubling) and per client address
(rate limit); the answer never says whether an address has an account."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.redact import redact
from gateway.signing import Signer
from gateway.web.auth import (
    COOKIE,
    Staff,
    check_csrf,
    get_signer,
    new_session,
    read_session,
    require_staff,
    verify_password,
    write_session,
)
from gateway.web.deps import WebContext, web_context
from gateway.web.ratelimit import client_address, limiter
from gateway.web.views import render
from storage.models import utcnow
from storage.staff import end_staff_sessions, get_staff_by_email, record_login_failure, record_login_success

log = logging.getLogger(__name__)
router = APIRouter()

BAD_LOGIN = "Wrong email address or password."
LOCKED = "Too many failed attempts. Wait a few minutes and try again."


def _safe_next(target: str | None) -> str:
    """Only our own inbox pages: never an open redirect to another site."""
    if target and target.startswith("/inbox") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


def _login_page(
    ctx: WebContext,
    request: Request,
    signer: Signer,
    *,
    next_url: str,
    error: str = "",
    email: str = "",
    status: int = 200,
) -> HTMLResponse:
    session = read_session(request, signer, ctx)
    if session is None:
        session = new_session()
    response = render(
        ctx,
        request,
        "inbox/login.html",
        None,
        status_code=status,
        csrf=session.csrf,
        next=next_url,
        error=error,
        email=email,
    )
    write_session(response, signer, ctx, session)
    return response


@router.get("/inbox/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next: str = "/inbox", ctx: WebContext = Depends(web_context), signer: Signer = Depends(get_signer)
) -> HTMLResponse:
    return _login_page(ctx, request, signer, next_url=_safe_next(next))


@router.post("/inbox/login", response_model=None)
async def login(
    request: Request,
    email: str = Form(..., max_length=320),
    password: str = Form(..., max_length=1000),
    next: str = Form("/inbox"),
    ctx: WebContext = Depends(web_context),
    signer: Signer = Depends(get_signer),
) -> Response:
    await check_csrf(request, read_session(request, signer, ctx))
    web = ctx.settings.web
    target = _safe_next(next)
    if not limiter(request, "login", per_period=web.login_attempts_per_minute, period_seconds=60).allow(
        client_address(request)
    ):
        return _login_page(ctx, request, signer, next_url=target, error=LOCKED, email=email, status=429)
    async with ctx.db.read() as session:
        user = await get_staff_by_email(session=session, email=email)
    if user is not None and user.locked_until is not None and user.locked_until > utcnow():
        return _login_page(ctx, request, signer, next_url=target, error=LOCKED, email=email, status=429)
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if user is not None and user.id is not None:
            async with ctx.db.write() as session:
                locked = await record_login_failure(
                    session=session,
                    staff_id=user.id,
                    max_failures=web.login_max_failures,
                    lockout=timedelta(seconds=web.login_lockout_seconds),
                    lockout_max=timedelta(seconds=web.login_lockout_max_seconds),
                )
            if locked is not None:
                log.warning("login: %s locked until %s", redact(user.email), locked.isoformat(timespec="seconds"))
        return _login_page(ctx, request, signer, next_url=target, error=BAD_LOGIN, email=email, status=401)
    assert user.id is not None
    async with ctx.db.write() as session:
        await record_login_success(session=session, staff_id=user.id)
    response = RedirectResponse(target, status_code=303)
    write_session(response, signer, ctx, new_session(user))  # a fresh CSRF token: nothing from before login survives
    log.info("login: %s", redact(user.email))
    return response


@router.post("/inbox/logout")
async def logout(ctx: WebContext = Depends(web_context), staff: Staff = Depends(require_staff)) -> RedirectResponse:
    async with ctx.db.write() as session:
        await end_staff_sessions(session=session, staff_id=staff.id)  # the cookie is worthless even if copied
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
