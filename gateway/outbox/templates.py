"""Reply templates: Jinja2 files shipped in the package, overridable file by file from a city's own folder.

Names are `<channel>/<kind>.<language>.txt.j2`; a missing language falls back to English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

SHIPPED = Path(__file__).parent / "templates"


def build_templates(override_dir: str | None = None) -> Environment:
    loaders = [FileSystemLoader(override_dir)] if override_dir else []
    loaders.append(FileSystemLoader(str(SHIPPED)))
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
