"""Canned replies: Jinja2 files `canned/<name>.<language>.txt.j2` beside the notification templates (a city adds or
overrides its own in the override folder), filled with the ticket's variables and put in the reply box for staff
to edit before sending. The first line of each file, when it starts with `##`, is its title in the picker.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, TemplateNotFound
from jinja2.exceptions import TemplateError

from gateway.outbox.compose import tracking_url
from gateway.settings import Settings
from storage.models import Contact, Ticket

PREFIX = "canned/"
SUFFIX = ".txt.j2"


@dataclass(frozen=True, slots=True)
class CannedReply:
    name: str
    title: str


def list_canned(env: Environment) -> list[CannedReply]:
    """The canned replies there are (by name, any language), titled from their English (or first) file."""
    names: dict[str, str] = {}
    for path in sorted(env.list_templates(filter_func=lambda p: p.startswith(PREFIX) and p.endswith(SUFFIX))):
        stem = path[len(PREFIX) : -len(SUFFIX)]
        name, _, lang = stem.rpartition(".")
        if not name or "/" in name:
            continue
        if name not in names or lang == "en":
            names[name] = _title(env, path, name)
    return [CannedReply(name=n, title=t) for n, t in sorted(names.items(), key=lambda kv: kv[1].lower())]


def _title(env: Environment, path: str, name: str) -> str:
    source, _, _ = env.loader.get_source(env, path) if env.loader else ("", None, None)
    first = source.splitlines()[0] if source else ""
    return first[2:].strip() if first.startswith("##") else name.replace("-", " ").capitalize()


def render_canned(
    env: Environment,
    name: str,
    *,
    settings: Settings,
    ticket: Ticket,
    reporter: Contact | None,
    staff_name: str,
    language: str | None = None,
) -> str | None:
    """The reply text, in the ticket's language when that file exists; None for an unknown name."""
    if not name.replace("-", "").replace("_", "").isalnum():
        return None
    for lang in dict.fromkeys([language or ticket.language or "en", "en"]):
        try:
            template = env.get_template(f"{PREFIX}{name}.{lang}{SUFFIX}")
        except TemplateNotFound:
            continue
        try:
            text = template.render(
                tracking_number=ticket.tracking_number,
                tracking_url=tracking_url(settings, ticket),
                summary=ticket.summary,
                category=(ticket.category or "").replace("-", " "),
                address=ticket.address or "",
                resident_name=(reporter.name if reporter and reporter.name else ""),
                staff_name=staff_name,
            )
        except TemplateError as exc:  # a city's own template with a mistake: say so instead of failing the page
            return f"[canned reply {name!r} could not be filled in: {exc}]"
        lines = text.splitlines()
        if lines and lines[0].startswith("##"):
            lines = lines[1:]
        return "\n".join(lines).strip() + "\n"
    return None
