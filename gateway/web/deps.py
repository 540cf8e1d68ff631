"""What route handlers may depend on: the running service's parts, reached through the app state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from gateway.metrics import Metrics
from gateway.pipeline import Services
from gateway.settings import Settings
from storage.db import Database


@dataclass(slots=True)
class WebContext:
    settings: Settings
    db: Database
    metrics: Metrics
    services: Services
    templates: Jinja2Templates
    health: Any = None  # async () -> (ok: bool, details: dict)
    parts: dict[str, Any] = field(default_factory=dict)  # running components by name (writer, workers ...)


def web_context(request: Request) -> WebContext:
    return request.app.state.ctx
