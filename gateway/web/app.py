"""Builds the ASGI app from the running service's parts; route modules register here."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from gateway.web.deps import WebContext
from gateway.web.routes import ops, public

TEMPLATES_DIR = Path(__file__).parent / "templates"


def build_page_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(TEMPLATES_DIR))  # autoescape is on for .html


def create_web_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(title="Inbox311", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.include_router(ops.router)
    app.include_router(public.router)

    @app.middleware("http")
    async def security_headers(request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
        )
        return response

    return app
