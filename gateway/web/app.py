"""Builds the ASGI app from the running service's parts; route modules register here.

In front of the FastAPI app stands the Twilio webhooks' own door (`routes/twilio.py`): those two paths need none of
the browser middleware, and Twilio waits on them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.deps import WebContext
from gateway.web.routes import admin, auth, inbox, inbox_ticket, open311, ops, public, report, subscribe, twilio
from gateway.web.views import install_error_pages, install_filters

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


# What SecurityHeaders adds to a response that sets none of its own, as the Twilio webhooks' door sends them.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", DEFAULT_CSP.encode()),
)


class SecurityHeaders:
    """Adds nosniff, framing and CSP headers to every response that does not set its own.

    Plain ASGI rather than `@app.middleware("http")`: that wrapper runs each request in a task group with a streamed
    copy of the response, a cost every Twilio webhook would pay.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if "frame-ancestors" not in headers.get("Content-Security-Policy", ""):
                    # A page that says who may frame it (the embeddable /report form) is not contradicted here.
                    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
                headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_page_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(TEMPLATES_DIR))  # autoescape is on for .html


def create_web_app(ctx: WebContext) -> ASGIApp:
    """The Twilio webhooks' door, with the FastAPI app (pages, APIs, health) behind it."""
    return twilio.TwilioWebhooks(create_fastapi_app(ctx), ctx, security_headers=SECURITY_HEADERS)


def create_fastapi_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(title="Inbox311", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    install_filters(ctx.templates.env)
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for pages in (auth, inbox, inbox_ticket, admin, subscribe, report):  # staff inbox and admin; public pages
        app.include_router(pages.router)
    app.include_router(ops.router)
    app.include_router(public.router)
    if ctx.settings.open311.enabled:
        app.include_router(open311.router)

    app.add_middleware(SecurityHeaders)
    return app
