"""Raw RFC 5322 bytes -> ParsedMessage: headers, bodies, attachments, and what kind of sender this is.

The stdlib parser (compat32 policy: fast, and it keeps what it cannot understand) builds the MIME tree; the
modules beside this one decode it without trusting it. Anything that cannot be a message at all raises
`EmailParseError(reason_code, detail)`; no other exception leaves `parse_email`, whatever the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from parsers import boundaries, mime
from parsers.attachments import AttachmentLimits
from parsers.auth import parse_authentication_results
from parsers.autoreply import AUTOREPLY_HEADERS, detect_auto_submitted
from parsers.bounce import detect_bounce
from parsers.email_parts import BodyParts, collect_parts
from parsers.headers import decode_words, first_message_id, message_ids, parse_addresses, parse_date
from parsers.language import guess_language
from parsers.mime_tree import well_formed_tree
from parsers.received import mail_loop
from parsers.reply import strip_reply
from parsers.types import Channel, ParsedMessage

# A message has at least one of these; bytes with none of them are something else (a web page, a JSON body...).
_MESSAGE_HEADERS = frozenset(
    [
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "received",
        "return-path",
        "sender",
        "mime-version",
        "content-type",
        "in-reply-to",
        "references",
        "reply-to",
        "delivered-to",
        "x-mailer",
    ]
)
_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|i|doorst|vs|転送|转发)\s*[:：]", re.IGNORECASE)
# RFC 5322 §4.5 obsolete syntax: white space between a field name and its colon ("Subject  : Hi").
_OBSOLETE_FIELD = re.compile(rb"^([!-9;-~]{1,76})[ \t]+:", re.MULTILINE)
_FIELD_LINE = re.compile(rb"[!-9;-~]{1,76}:")
# The same tests as searches for a line break first, which the regex engine scans for quickly: whether any line
# after the first is obsolete or neither a field nor a continuation decides whether the slow repairs run at all.
_OBSOLETE_AFTER_FIRST = re.compile(rb"\n[!-9;-~]{1,76}[ \t]+:")
_NOT_A_HEADER_LINE_AFTER_FIRST = re.compile(rb"\n(?![!-9;-~]{1,76}:|[ \t])")
_MAX_HEADER_BLOCK = 262_144
_FEEDBACK_FIELD = re.compile(r"^Feedback-Type:\s*(?:abuse|fraud|virus|other|not-spam|auth-failure)", re.M | re.I)
_DEFECT_NAME = re.compile(r"(?<!^)(?=[A-Z])")
_MAX_DEFECTS = 40
_DEFAULT_LIMITS = AttachmentLimits()
boundaries.install()  # every multipart's boundary found without a regular expression compiled for it


class EmailParseError(Exception):
    """The bytes cannot be read as a message at all; `reason_code` is stable ("empty", "not-a-message", ...)."""

    def __init__(self, reason_code: str, detail: str = "") -> None:
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)
        self.reason_code = reason_code
        self.detail = detail


def parse_email(
    raw: bytes,
    *,
    limits: AttachmentLimits = _DEFAULT_LIMITS,
    trusted_authserv_ids: Iterable[str] | None = None,
) -> ParsedMessage:
    """Parse one email. `trusted_authserv_ids` names the MTAs whose Authentication-Results count (None: topmost)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailParseError("not-bytes", type(raw).__name__)
    data = bytes(raw)
    if not data.strip():
        raise EmailParseError("empty")
    try:
        return _parse(data, limits, trusted_authserv_ids)
    except EmailParseError:
        raise
    except RecursionError as exc:
        raise EmailParseError("too-deep", "MIME nesting too deep to read") from exc
    except Exception as exc:  # the contract: nothing but EmailParseError leaves this function
        raise EmailParseError("unparseable", f"{type(exc).__name__}: {exc}"[:300]) from exc


def _defect_names(message: Message) -> list[str]:
    names: list[str] = []
    for part in [message, *mime.walk_leaves(message)]:
        for defect in getattr(part, "defects", ()):
            name = _DEFECT_NAME.sub("-", type(defect).__name__.removesuffix("Defect")).lower()
            names.append(f"mime:{name}")
    return names


def _header_index(message: Message) -> dict[str, list[str]]:
    """Every header value by lower-cased name, in order (one pass: Message.get re-scans all headers per call)."""
    index: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        index.setdefault(str(name).strip().lower(), []).append(str(value))
    return index


def _recipients(index: dict[str, list[str]]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for header in _RECIPIENT_HEADERS:
        for value in index.get(header, ()):
            for _, address in parse_addresses(value):
                if "@" in address:
                    found.setdefault(address, None)
    return tuple(found)


def _repair_header_block(data: bytes) -> tuple[bytes, list[str]]:
    """Fix the header block before the stdlib reads it: obsolete "Name  :" fields (RFC 5322 §4.5) are joined, and
    damaged lines ABOVE the last good field are dropped (the stdlib would take everything after one bad line, all
    the real headers included, for body). Bad lines after the last field start a body that lost its blank line."""
    end = _header_end(data)
    head = data[:end] if end >= 0 else data[:_MAX_HEADER_BLOCK]
    defects: list[str] = []
    if _OBSOLETE_FIELD.match(head) or _OBSOLETE_AFTER_FIRST.search(head):
        fixed = _OBSOLETE_FIELD.sub(rb"\1:", head)
        data, head = fixed + data[len(head) :], fixed
        defects.append("obsolete-field-syntax")
    if head.startswith(b"From ") and b"\n" in head:  # an mbox separator line, not a header
        head = head.split(b"\n", 1)[1]
        data = data.split(b"\n", 1)[1]
        defects.append("mbox-from-line")
    if _FIELD_LINE.match(head) and not _NOT_A_HEADER_LINE_AFTER_FIRST.search(head):
        return data, defects  # every line a field or its continuation: nothing to drop
    return drop_damaged_lines(data, head, defects)


def drop_damaged_lines(data: bytes, head: bytes, defects: list[str]) -> tuple[bytes, list[str]]:
    """`data` without the lines of its header block `head` that come before the last field and are neither a field
    nor a continuation (none when no line is a field: then it is no header block at all)."""
    lines = head.split(b"\n")
    good = [bool(_FIELD_LINE.match(line)) or (index > 0 and line[:1] in b" \t") for index, line in enumerate(lines)]
    if all(good) or not any(good):
        return data, defects
    last_good = max(index for index, ok in enumerate(good) if ok)
    kept = [line for index, line in enumerate(lines) if good[index] or index > last_good]
    defects.append("damaged-header-lines")
    return b"\n".join(kept) + data[len(head) :], defects


def _header_end(data: bytes) -> int:
    """Where the blank line after the header block starts (a CR before its first LF included), or -1: the first
    match of `\\r?\\n\\r?\\n`, found with two substring searches instead of a regex tried at every byte."""
    found = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i >= 0]
    if not found:
        return -1
    first = min(found)
    return first - 1 if first > 0 and data[first - 1 : first] == b"\r" else first


def _parse(data: bytes, limits: AttachmentLimits, trusted_authserv_ids: Iterable[str] | None) -> ParsedMessage:
    data, repairs = _repair_header_block(data.lstrip(b"\r\n\t \xef\xbb\xbf"))
    message = well_formed_tree(data) or message_from_bytes(data, policy=compat32)
    index = _header_index(message)
    headers = {name: values[0] for name, values in index.items()}
    if not _MESSAGE_HEADERS.intersection(headers):
        raise EmailParseError("not-a-message", "no RFC 5322 header fields")
    loop = mail_loop(index.get("received", ()))
    if loop:  # kept in quarantine, never answered: an answer would only feed the loop
        raise EmailParseError("mail-loop", loop)
    defects = repairs + _defect_names(message)

    senders = parse_addresses(headers.get("from")) or parse_addresses(headers.get("sender"))
    sender_name, sender = senders[0] if senders else ("", "")
    if not senders and headers.get("from"):
        defects.append("unreadable-from")
    return_path = headers.get("return-path")
    null_sender = return_path is not None and not return_path.strip().strip("<>").strip()
    subject = " ".join(decode_words(headers.get("subject")).split())
    sent_at, date_defect = parse_date(headers.get("date"))
    if date_defect:
        defects.append(date_defect)

    parts: BodyParts = collect_parts(message, limits)
    defects.extend(parts.defects)
    report_type = (mime.param(message, "report-type") or "").lower()
    if "message/feedback-report" in parts.kinds or _FEEDBACK_FIELD.search(parts.text[:4096]):
        report_type = "feedback-report"  # ARF (RFC 5965), also when a provider wraps it in multipart/mixed
    bounce = detect_bounce(message, sender=sender, sender_name=sender_name, subject=subject, text=parts.text)
    # A bounce's copy of our own message is noise in its body, unless the notice has no words of its own.
    body_text = parts.text if bounce and parts.text.strip() else parts.text_with_forwards
    language = guess_language(body_text) or _content_language(headers.get("content-language"))
    forwarded = bool(_FORWARD_SUBJECT.match(subject))
    body_new = body_text if forwarded or bounce else strip_reply(body_text, language)
    if body_new and len(body_new) < len(body_text) * 0.8:  # the quoted history may be in another language
        language = guess_language(body_new) or language

    extra: list[tuple[str, str]] = [*parts.extra]
    for _, address in parse_addresses(headers.get("reply-to"))[:1]:
        extra.append(("reply-to", address))
    if headers.get("list-id"):
        extra.append(("list-id", decode_words(headers["list-id"])[:200]))
    return ParsedMessage(
        channel=Channel.EMAIL,
        sender=sender,
        sender_name=sender_name or None,
        subject=subject,
        body_text=body_text,
        body_new=body_new,
        message_id=first_message_id(headers.get("message-id")),
        in_reply_to=first_message_id(headers.get("in-reply-to")),
        references=message_ids(" ".join(index.get("references", ()))),
        recipients=_recipients(index),
        sent_at=sent_at,
        body_html=parts.html,
        attachments=parts.attachments,
        auto_submitted=detect_auto_submitted(
            {key: decode_words(headers[key]) for key in AUTOREPLY_HEADERS if key in headers},
            sender=sender,
            subject=subject,
            null_sender=null_sender,
            bounce=bounce is not None,
            report_type=report_type,
        ),
        bounce=bounce,
        auth=parse_authentication_results(
            index.get("authentication-results", ()),
            index.get("received-spf", ()),
            trusted_authserv_ids,
        ),
        language=language,
        defects=tuple(dict.fromkeys(defects))[:_MAX_DEFECTS],
        extra=tuple(extra),
    )


def _content_language(value: str | None) -> str | None:
    if not value:
        return None
    code = value.split(",", 1)[0].strip().split("-", 1)[0].lower()
    return code if re.fullmatch(r"[a-z]{2}", code) else None
