"""Administration pages, for admins only: staff accounts (add, role, deactivate, new password) and the rules file
(view, edit with validation, reload). Agents and viewers get 403 on every one of these routes."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.redact import redact
from gateway.staff.rules_file import RulesRejected, read_rules, save_rules
from gateway.web.auth import Staff, hash_password, require_admin
from gateway.web.deps import WebContext, web_context
from gateway.web.views import render
from storage.roles import ROLES
from storage.staff import (
    StaffExists,
    create_staff_user,
    get_staff,
    list_staff,
    set_staff_password,
    set_staff_role,
)

log = logging.getLogger(__name__)
router = APIRouter()

MIN_PASSWORD = 10
NOTICES = {
    "added": "Account created.",
    "role": "Role changed.",
    "password": "Password set; that person's sessions have ended.",
    "rules": "Rules saved and reloaded.",
}


async def _users_page(
    ctx: WebContext, request: Request, staff: Staff, *, notice: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    async with ctx.db.read() as session:
        users = await list_staff(session=session, active_only=False)
    return render(
        ctx,
        request,
        "inbox/admin_users.html",
        staff,
        status_code=status_code,
        users=users,
        roles=ROLES,
        notice=NOTICES.get(notice, ""),
        error=error,
    )


@router.get("/inbox/admin/users", response_class=HTMLResponse)
async def users(
    request: Request, done: str = "", ctx: WebContext = Depends(web_context), staff: Staff = Depends(require_admin)
) -> HTMLResponse:
    return await _users_page(ctx, request, staff, notice=done)


@router.post("/inbox/admin/users", response_model=None)
async def add_user(
    request: Request,
    email: str = Form(..., max_length=320),
    name: str = Form("", max_length=200),
    role: str = Form("agent"),
    password: str = Form(..., max_length=1000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_admin),
) -> Response:
    email = email.strip().lower()
    problem = None
    if "@" not in email or " " in email:
        problem = "That is not an email address."
    elif role not in ROLES:
        problem = f"The role must be one of {', '.join(ROLES)}."
    elif len(password) < MIN_PASSWORD:
        problem = f"A password needs at least {MIN_PASSWORD} characters."
    if problem is None:
        password_hash = await asyncio.to_thread(hash_password, password)
        try:
            async with ctx.db.write() as session:
                await create_staff_user(
                    session=session, email=email, password_hash=password_hash, role=role, name=name.strip() or None
                )
        except StaffExists:
            problem = f"{email} has an account already."
    if problem is not None:
        return await _users_page(ctx, request, staff, error=problem, status_code=400)
    log.info("admin: %s added %s as %s", redact(staff.email), redact(email), role)
    return RedirectResponse("/inbox/admin/users?done=added", status_code=303)


@router.post("/inbox/admin/users/{user_id}/role", response_model=None)
async def change_role(
    user_id: int,
    request: Request,
    role: str = Form(...),
    active: str = Form(""),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_admin),
) -> Response:
    keep_active = active == "on"
    if role not in ROLES:
        return await _users_page(ctx, request, staff, error="Unknown role.", status_code=400)
    if user_id == staff.id and (role != "admin" or not keep_active):
        # Someone must be left who can undo it; another admin (or the CLI) can demote you.
        return await _users_page(
            ctx, request, staff, error="You cannot demote or deactivate yourself.", status_code=400
        )
    async with ctx.db.write() as session:
        user = await get_staff(session=session, staff_id=user_id)
        if user is None:
            return await _users_page(ctx, request, staff, error="No such account.", status_code=404)
        await set_staff_role(session=session, staff_id=user_id, role=role, active=keep_active)
    log.info("admin: %s set %s to %s%s", redact(staff.email), user_id, role, "" if keep_active else " (inactive)")
    return RedirectResponse("/inbox/admin/users?done=role", status_code=303)


@router.post("/inbox/admin/users/{user_id}/password", response_model=None)
async def change_password(
    user_id: int,
    request: Request,
    password: str = Form(..., max_length=1000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_admin),
) -> Response:
    if len(password) < MIN_PASSWORD:
        error = f"A password needs at least {MIN_PASSWORD} characters."
        return await _users_page(ctx, request, staff, error=error, status_code=400)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with ctx.db.write() as session:
        if await get_staff(session=session, staff_id=user_id) is None:
            return await _users_page(ctx, request, staff, error="No such account.", status_code=404)
        await set_staff_password(session=session, staff_id=user_id, password_hash=password_hash)
    log.info("admin: %s set a new password for %s", redact(staff.email), user_id)
    return RedirectResponse("/inbox/admin/users?done=password", status_code=303)


def _rules_page(
    ctx: WebContext,
    request: Request,
    staff: Staff,
    *,
    text: str | None = None,
    notice: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    current = read_rules(ctx.services)
    return render(
        ctx,
        request,
        "inbox/admin_rules.html",
        staff,
        status_code=status_code,
        rules=current,
        text=current.text if text is None else text,
        notice=NOTICES.get(notice, ""),
        error=error,
    )


@router.get("/inbox/admin/rules", response_class=HTMLResponse)
async def rules(
    request: Request, done: str = "", ctx: WebContext = Depends(web_context), staff: Staff = Depends(require_admin)
) -> HTMLResponse:
    return _rules_page(ctx, request, staff, notice=done)


@router.post("/inbox/admin/rules", response_model=None)
async def post_rules(
    request: Request,
    text: str = Form(..., max_length=1_000_000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_admin),
) -> Response:
    try:
        await asyncio.to_thread(save_rules, ctx.services, text)  # the model load takes a moment: off the loop
    except RulesRejected as exc:
        return _rules_page(ctx, request, staff, text=text, error=str(exc), status_code=400)
    log.info("admin: %s saved the rules file", redact(staff.email))
    return RedirectResponse("/inbox/admin/rules?done=rules", status_code=303)
