"""Walk one message's MIME tree and sort its parts: the text a person wrote, its HTML, attachments, forwards.

Body text is the inline text/plain parts in order (format=flowed joined), or the HTML rendered as text when there
is none; HTML is kept only sanitised. Everything else is an attachment within the size limits. A forwarded
message (message/rfc822) is kept as an .eml attachment, its own attachments are kept too (a forwarded report's
photo is the report's photo), and its text is added under a "Forwarded message" line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from parsers import mime
from parsers.attachments import AttachmentLimits, build_attachment
from parsers.body import html_to_text, sanitize_html, unflow
from parsers.headers import decode_words, parse_addresses
from parsers.types import AttachmentPart

_REPORT_PARTS = {
    "message/delivery-status", "message/global-delivery-status", "text/delivery-status", "text/rfc822-headers",
    "message/rfc822-headers", "message/feedback-report", "message/disposition-notification",
}  # fmt: skip
_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
_MAX_FORWARD_DEPTH = 3


@dataclass(slots=True)
class BodyParts:
    text: str = ""
    text_with_forwards: str = ""
    html: str | None = None
    attachments: tuple[AttachmentPart, ...] = ()
    defects: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # every content type met, for report detection


@dataclass(slots=True)
class _Walk:
    limits: AttachmentLimits
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    forwards: list[str] = field(default_factory=list)
    attachments: list[AttachmentPart] = field(default_factory=list)
    total_bytes: int = 0
    defects: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def add_attachment(self, part: Message, data: bytes, declared_type: str) -> None:
        if len(self.attachments) >= self.limits.max_count:
            self.defects.append("attachments-over-count")
            return
        index = len(self.attachments) + 1
        item = build_attachment(mime.filename(part), declared_type, data, part.get("content-id"), index)
        if len(data) > self.limits.max_file_bytes:
            self.defects.append(f"attachment-too-large:{item.filename}")
            return
        if self.total_bytes + len(data) > self.limits.max_total_bytes:
            self.defects.append(f"attachments-over-total:{item.filename}")
            return
        self.total_bytes += len(data)
        if item.content_type in _TNEF_TYPES or item.filename.lower() == "winmail.dat":
            self.defects.append("tnef-not-decoded")
            self.extra.append(("tnef", item.filename))
        self.attachments.append(item)


def _text_of(part: Message, walk: _Walk) -> str:
    text, defect = mime.part_text(part)
    if defect:
        walk.defects.append(defect)
    if (mime.param(part, "format") or "").lower() == "flowed":
        text = unflow(text, delsp=(mime.param(part, "delsp") or "").lower() == "yes")
    return text


def _encoded_message(part: Message, parsed: list[Message]) -> bytes | None:
    """A message/rfc822 part sent base64- or QP-encoded (against RFC 2046 §5.2.1, but common): its real bytes."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable") or not parsed:
        return None
    carrier = Message()
    carrier["Content-Transfer-Encoding"] = encoding
    carrier.set_payload(str(parsed[0].get_payload()) if not parsed[0].keys() else
                        parsed[0].as_string().split("\n\n", 1)[-1])  # fmt: skip
    return mime.part_bytes(carrier)


def _forward(part: Message, walk: _Walk, depth: int) -> None:
    parsed = mime.inner_messages(part)
    encoded = _encoded_message(part, parsed)
    inner_messages = [message_from_bytes(encoded, policy=compat32)] if encoded is not None else parsed
    try:
        data = encoded if encoded is not None else parsed[0].as_bytes() if parsed else mime.part_bytes(part)
    except Exception:  # the generator chokes on some damaged headers; keep what was sent
        data = mime.part_bytes(part)
        walk.defects.append("forward-not-regenerated")
    walk.add_attachment(part, data, "message/rfc822")
    if not inner_messages or depth >= _MAX_FORWARD_DEPTH:
        return
    inner = inner_messages[0]
    nested = _Walk(walk.limits, total_bytes=walk.total_bytes)
    nested.attachments = walk.attachments
    _visit(inner, nested, depth + 1)
    walk.total_bytes = nested.total_bytes
    walk.defects.extend(nested.defects)
    walk.extra.extend(nested.extra)
    senders = parse_addresses(str(inner.get("from", "")))
    lines = ["---------- Forwarded message ----------"]
    if senders:
        lines.append(f"From: {senders[0][0]} <{senders[0][1]}>" if senders[0][0] else f"From: {senders[0][1]}")
    for name in ("date", "subject"):
        if inner.get(name):
            lines.append(f"{name.title()}: {decode_words(str(inner.get(name)))}")
    body = "\n\n".join(t for t in nested.plain if t.strip()) or html_to_text("\n".join(nested.html))
    walk.forwards.append("\n".join(lines) + "\n\n" + body.strip() + "".join(nested.forwards))


def _visit(message: Message, walk: _Walk, depth: int) -> None:
    for part in mime.walk_leaves(message):
        kind = mime.content_type(part)
        walk.kinds.add(kind)
        if kind.startswith("multipart/"):  # a multipart whose boundary never came: its text is all there is
            walk.defects.append("broken-multipart")
            walk.plain.append(_text_of(part, walk))
        elif kind in ("message/rfc822", "message/global"):
            _forward(part, walk, depth)
        elif kind in _REPORT_PARTS:
            continue  # read by the bounce and feedback detectors, not part of the body
        elif kind in ("text/plain", "text/html") and not mime.is_attachment(part):
            (walk.plain if kind == "text/plain" else walk.html).append(_text_of(part, walk))
        elif part is message and kind.startswith("text/"):
            walk.plain.append(_text_of(part, walk))  # a whole message of text/enriched, text/markdown...
        else:
            walk.add_attachment(part, mime.part_bytes(part), kind)


def collect_parts(message: Message, limits: AttachmentLimits) -> BodyParts:
    walk = _Walk(limits)
    _visit(message, walk, 0)
    html_source = "\n".join(walk.html)
    text = "\n\n".join(t.strip("\n") for t in walk.plain if t.strip())
    if not text and html_source.strip():
        text = html_to_text(html_source)
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    with_forwards = "\n\n".join([text, *walk.forwards]).strip("\n") if walk.forwards else text
    return BodyParts(
        text=text,
        text_with_forwards=with_forwards,
        html=sanitize_html(html_source) or None if html_source.strip() else None,
        attachments=tuple(walk.attachments),
        defects=walk.defects,
        extra=walk.extra,
        kinds=walk.kinds,
    )
