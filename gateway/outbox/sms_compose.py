"""Build outgoing texts from the `sms/` templates, written to fit: GSM-7 where it can be, N segments at most, the
tracking link always whole. The outbox payload records what it will cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment

from gateway.outbox.compose import service_name, tracking_url
from gateway.outbox.templates import render
from gateway.settings import Settings
from parsers.segments import count_segments, fit_to_segments, fits, to_gsm7
from storage.models import Ticket

MAX_SEGMENTS_OTHER = 3  # help, keyword confirmations, status answers: short by nature, capped all the same
_ELLIPSIS = "..."


def sms_payload(text: str) -> dict[str, Any]:
    count = count_segments(text)
    return {"body": text, "segments": count.segments, "encoding": count.encoding}


def compose_sms(
    *,
    settings: Settings,
    templates: Environment,
    kind: str,
    language: str | None,
    ticket: Ticket | None = None,
    max_segments: int = MAX_SEGMENTS_OTHER,
    **context: Any,
) -> dict[str, Any]:
    """Render `sms/<kind>.<language>` and fit it to `max_segments`; the outbox payload ({"body", "segments"...})."""
    values: dict[str, Any] = {"service_name": service_name(settings), **context}
    keep: list[str] = []
    if ticket is not None:
        url = tracking_url(settings, ticket)
        values.update(tracking_number=ticket.tracking_number, tracking_url=url, status=ticket.status)
        values.setdefault("summary", " ".join(ticket.summary.split()))
        keep = [url, ticket.tracking_number]
    if kind == "help" and settings.twilio.help_text:
        return sms_payload(fit_to_segments(settings.twilio.help_text, max_segments))

    def text_with(**override: Any) -> str:
        return render(templates, "sms", kind, language, **{**values, **override}).strip()

    text = text_with()
    if fits(text, max_segments):
        return sms_payload(text)
    text = to_gsm7(text)
    if fits(text, max_segments):
        return sms_payload(text)
    summary = str(values.get("summary", ""))
    if summary:  # the resident's own words are the part to shorten, not our instructions
        shortened = _shortest_cut(summary, lambda s: fits(to_gsm7(text_with(summary=s)), max_segments))
        if shortened is not None:
            return sms_payload(to_gsm7(text_with(summary=shortened)))
    return sms_payload(fit_to_segments(text, max_segments, keep=keep))


def _shortest_cut(summary: str, ok: Callable[[str], bool]) -> str | None:
    """The longest prefix of `summary` (cut at a word, with an ellipsis) for which `ok` holds; None if none does."""

    def cut(n: int) -> str:
        if n >= len(summary):
            return summary
        head = summary[:n].rsplit(" ", 1)[0] if " " in summary[:n] else summary[:n]
        return head.rstrip(" ,.;:-") + _ELLIPSIS

    if not ok(cut(0)):
        return None
    low, high = 0, len(summary)
    while low < high:  # the largest n that still fits
        mid = (low + high + 1) // 2
        if ok(cut(mid)):
            low = mid
        else:
            high = mid - 1
    return cut(low)
