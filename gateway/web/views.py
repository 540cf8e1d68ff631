"""Presentation helpers shared by the staff pages: Jinja filters for dates, statuses and labels, and page rendering
with the signed-in staff member and their CSRF token always in the context."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.web.auth import Staff
from gateway.web.deps import WebContext
from storage.models import utcnow

STATUS_LABELS = {
    "new": "New",
    "acknowledged": "Acknowledged",
    "in_progress": "In progress",
    "resolved": "Resolved",
    "closed": "Closed",
    "duplicate": "Duplicate",
    "rejected": "Rejected",
}
CHANNEL_LABELS = {"email": "Email", "sms": "Text", "web": "Web form", "open311": "Open311", "staff": "Staff"}


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "5 min ago", "3 h ago", "2 d ago": short enough for a phone-width list."""
    if value is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - value).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def humanise(value: str | None) -> str:
    return (value or "").replace("_", " ").replace("-", " ")


def decided_by_label(value: str | None) -> str:
    """Who set a ticket's category, in words: a rule (by its name), the model, the resident, or a staff member."""
    if not value:
        return ""
    fixed = {
        "model": "the text classifier (model)",
        "triage": "nobody yet (the model was unsure)",
        "resident-choice": "the resident, on the web form",
    }
    if value in fixed:
        return fixed[value]
    if value.startswith("staff:"):
        return f"staff member {value.removeprefix('staff:')}"
    return f"rule “{value}”"


def install_filters(env: Environment) -> None:
    env.filters.update(
        when=when,
        ago=ago,
        humanise=humanise,
        decided_by=decided_by_label,
        status_label=lambda s: STATUS_LABELS.get(s, humanise(s)),
        channel_label=lambda c: CHANNEL_LABELS.get(c, humanise(c)),
    )


def render(
    ctx: WebContext,
    request: Request,
    template: str,
    staff: Staff | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = ctx.templates.TemplateResponse(
        request,
        template,
        {"staff": staff, "csrf": staff.csrf if staff else context.pop("csrf", ""), **context},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"  # staff pages hold personal data: never cached
    return response


HTML_ERROR_PREFIXES = ("/inbox", "/report", "/subscribe", "/unsubscribe")


def install_error_pages(app: FastAPI) -> None:
    """People get a page, not JSON, when a staff or public form refuses something; other routes keep theirs."""

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400 or not request.url.path.startswith(HTML_ERROR_PREFIXES):
            return await http_exception_handler(request, exc)
        ctx: WebContext = request.app.state.ctx
        response = ctx.templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail if isinstance(exc.detail, str) else ""},
            status_code=exc.status_code,
            headers=exc.headers,
        )
        response.headers["Cache-Control"] = "no-store"
        return response
