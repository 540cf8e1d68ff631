"""Raw RFC 5322 bytes -> ParsedMessage, with mail-parser doing the MIME work."""

from __future__ import annotations

import logging
from email.utils import getaddresses, parseaddr

import mailparser

from parsers.types import Channel, ParsedMessage

# mail-parser logs every defect it meets at WARNING; defects are recorded on the message instead.
logging.getLogger("mailparser").setLevel(logging.ERROR)


def _strip_brackets(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().split()[0] if value.strip() else ""
    return value.strip("<>") or None


def parse_email(raw: bytes) -> ParsedMessage:
    """Parse one email. Raises ValueError when the bytes are not a message at all."""
    if not raw.strip():
        raise ValueError("empty message")
    mail = mailparser.parse_from_bytes(raw)
    msg = mail.message
    headers = {k.lower(): str(v) for k, v in msg.items()}
    name, addr = parseaddr(headers.get("from", ""))
    refs = tuple(r.strip("<>") for r in headers.get("references", "").split() if r.strip("<>"))
    body = "\n".join(mail.text_plain).strip() if mail.text_plain else mail.body.strip()
    return ParsedMessage(
        channel=Channel.EMAIL,
        sender=addr.lower(),
        sender_name=name or None,
        subject=str(mail.subject or "").strip(),
        body_text=body,
        body_new=body,
        message_id=_strip_brackets(headers.get("message-id")),
        in_reply_to=_strip_brackets(headers.get("in-reply-to")),
        references=refs,
        recipients=tuple(a.lower() for _, a in getaddresses([headers.get("to", "")]) if a),
        sent_at=mail.date if mail.date and mail.date.tzinfo else None,
        auto_submitted=_auto_submitted(headers),
    )


def _auto_submitted(headers: dict[str, str]) -> str | None:
    value = headers.get("auto-submitted", "").strip().lower()
    if value and value != "no":
        return "auto-submitted"
    return None
