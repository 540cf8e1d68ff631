"""Reply templates: Jinja2 files shipped in the package, overridable file by file from a city's own folder.

Names are `<channel>/<kind>.<language>.txt.j2`; a missing language falls back to English. A city's edits to its
own files show in the next replies, within RECHECK_SECONDS, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

SHIPPED = Path(__file__).parent / "templates"
# Jinja asks whether a template file changed on every use: a stat per reply, on the event loop. Once in this many
# seconds is soon enough for someone editing a reply.
RECHECK_SECONDS = 2.0


class _RecheckingLoader(FileSystemLoader):
    """Files whose change is looked for at most once per RECHECK_SECONDS."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        checked = time.monotonic()

        def still_current() -> bool:
            nonlocal checked
            now = time.monotonic()
            if now - checked < RECHECK_SECONDS:
                return True
            checked = now
            return uptodate()

        return source, filename, still_current


def build_templates(override_dir: str | None = None) -> Environment:
    loaders: list[FileSystemLoader] = [_RecheckingLoader(override_dir)] if override_dir else []
    loaders.append(_RecheckingLoader(str(SHIPPED)))
    # Plain-text mail and SMS: no HTML escaping, but every variable must exist.
    return Environment(
        loader=ChoiceLoader(loaders), autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
    )


def render(env: Environment, channel: str, kind: str, language: str | None, **context: Any) -> str:
    for lang in dict.fromkeys([language or "en", "en"]):
        try:
            template = env.get_template(f"{channel}/{kind}.{lang}.txt.j2")
        except TemplateNotFound:
            continue
        return template.render(**context)
    raise TemplateNotFound(f"{channel}/{kind}")
