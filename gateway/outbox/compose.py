"""Build outgoing email payloads: threading headers, our own Message-ID, the tracking link. Stored in the outbox."""

from __future__ import annotations

import secrets
from email.utils import formataddr
from typing import Any

from jinja2 import Environment

from gateway.outbox.email_render import parsed_address
from gateway.outbox.templates import render
from gateway.settings import Settings
from parsers.types import ParsedMessage
from rules.threading import reply_address
from storage.models import Ticket


def tracking_url(settings: Settings, ticket: Ticket) -> str:
    return f"{settings.http.public_base_url}/track/{ticket.tracking_number}?t={ticket.public_token}"


def service_name(settings: Settings) -> str:
    """The name replies and texts are signed with: the display name of `[outbound.email] from`."""
    return parsed_address(settings.outbound.email.from_)[0] or "City 311"


def new_message_id(settings: Settings, ticket: Ticket, kind: str) -> str:
    """`sr-2026-000042.ack.3f9a1c2b7d4e@city.example`: ours, unique, and naming the ticket for humans."""
    domain = settings.from_address.partition("@")[2] or settings.smtp.domains[0]
    return f"{ticket.tracking_number.lower()}.{kind}.{secrets.token_hex(6)}@{domain}"


def reply_subject(subject: str, tracking_number: str) -> str:
    subject = " ".join(subject.split())
    tag = f"[{tracking_number}]"
    if not subject:
        return f"Your report {tag}"
    if tag.lower() not in subject.lower():
        subject = f"{subject} {tag}"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def compose_email_reply(
    *,
    settings: Settings,
    templates: Environment,
    ticket: Ticket,
    kind: str,
    to: str,
    parsed: ParsedMessage | None,
    language: str | None = None,
    **context: Any,
) -> tuple[str, dict[str, Any]]:
    """An answer to `parsed` (or a fresh message on the ticket when None): (our Message-ID, outbox payload)."""
    message_id = new_message_id(settings, ticket, kind)
    name, from_addr = parsed_address(settings.outbound.email.from_)
    references = [*parsed.references, parsed.message_id] if parsed and parsed.message_id else []
    headers = {
        "Message-ID": f"<{message_id}>",
        "Reply-To": formataddr((name, reply_address(from_addr, ticket.reply_token))),
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",  # asks Exchange not to send out-of-office replies to us
    }
    if parsed and parsed.message_id:
        headers["In-Reply-To"] = f"<{parsed.message_id}>"
        headers["References"] = " ".join(f"<{r}>" for r in references[-20:])
    body = render(
        templates,
        "email",
        kind,
        language,
        tracking_number=ticket.tracking_number,
        tracking_url=tracking_url(settings, ticket),
        summary=ticket.summary,
        service_name=service_name(settings),
        question=context.pop("question", None),
        **context,
    )
    payload = {
        "from": settings.outbound.email.from_,
        "to": to,
        "subject": reply_subject(parsed.subject if parsed else ticket.summary, ticket.tracking_number),
        "text": body,
        "headers": headers,
    }
    return message_id, payload
