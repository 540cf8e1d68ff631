"""Safe access to the parts of a parsed MIME tree: types, dispositions, decoded bytes and text, bounded walks.

The stdlib `email` parser (compat32 policy: fast, and it keeps whatever it cannot understand) builds the tree;
these helpers read it without ever raising, so one damaged part cannot sink a whole message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import unquote

from parsers.charsets import decode_bytes
from parsers.headers import decode_words

MAX_PARTS = 2_000  # a message with more parts is cut short (zip-bomb-like nesting costs time, never data)
MAX_DEPTH = 30
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.IGNORECASE)


# What these helpers read of a part, kept on the part: the stdlib scans every header of the part on each call, and
# one message asks for its parts' types and parameters a dozen times. Parts are read, never changed, once parsed.
_MEMO = "_inbox311_mime"


@dataclass(slots=True)
class _Read:
    content_type: str | None = None
    params: dict[str, list[tuple[str, object]]] = field(default_factory=dict)  # by header name


def _read(part: Message) -> _Read:
    read: _Read | None = part.__dict__.get(_MEMO)
    if read is None:
        read = part.__dict__[_MEMO] = _Read()
    return read


def content_type(part: Message) -> str:
    read = _read(part)
    if read.content_type is None:
        read.content_type = _read_content_type(part)
    return read.content_type


def _read_content_type(part: Message) -> str:
    try:
        value = part.get_content_type().lower()
    except Exception:  # the stdlib raises assorted errors on damaged parameters
        return "application/octet-stream"
    return value if value.count("/") == 1 else "application/octet-stream"


def _params(part: Message, header: str) -> list[tuple[str, object]]:
    """A header's parameters, unquoted, names lower-cased ([] when the header is missing or unreadable)."""
    read = _read(part)
    known = read.params.get(header)
    if known is None:
        value = part.get(header)
        found: list[tuple[str, object]] | None = plain_params(value) if isinstance(value, str) else None
        if found is None:
            try:
                found = part.get_params(header=header) or []
            except Exception:
                found = []
        known = read.params[header] = [(str(key).lower(), value) for key, value in found]
    return known


def plain_params(value: str) -> list[tuple[str, object]] | None:
    """`Message.get_params()` of a header `value` with no backslash, no RFC 2231 "*" and balanced quotes between
    its semicolons, as the stdlib gives them (its three passes over the parameters come to this for such a value),
    or None for anything else."""
    if "\\" in value or "*" in value:
        return None
    pieces = value.split(";")
    if any(piece.count('"') % 2 for piece in pieces):
        return None  # a quoted ";" the stdlib keeps inside its value
    found: list[tuple[str, object]] = []
    for piece in pieces:
        name, equals, given = piece.partition("=")
        if equals:
            found.append((name.strip().lower(), unquote(given.strip())))
        else:
            found.append((piece.strip(), ""))
    return found


def param(part: Message, name: str, header: str = "content-type") -> str | None:
    """A header parameter, RFC 2231 continuations and charsets joined, RFC 2047 words decoded (Outlook uses them)."""
    wanted = name.lower()
    return decode_param(next((value for key, value in _params(part, header) if key == wanted), None))


def decode_param(value: object) -> str | None:
    """A parameter's value as `Message.get_param` gives it -> text."""
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _, text = value
        try:
            raw = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            return decode_words(text)
        return decode_bytes(raw, charset or "utf-8")[0]
    return decode_words(str(value).strip().strip('"'))


def disposition(part: Message) -> str:
    value = str(part.get("content-disposition", "") or "")
    return value.split(";", 1)[0].strip().lower()


def filename(part: Message) -> str | None:
    return param(part, "filename", "content-disposition") or param(part, "name")


def is_attachment(part: Message) -> bool:
    """True for parts the sender attached rather than wrote (a text part with a file name counts as attached)."""
    if disposition(part) == "attachment":
        return True
    kind = content_type(part)
    if kind in ("text/plain", "text/html"):
        return filename(part) is not None and disposition(part) != "inline"
    return not kind.startswith("multipart/")


def part_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (base64, quoted-printable, uuencode undone; unknown encodings left raw)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # e.g. binascii errors inside uuencode
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def part_text(part: Message) -> tuple[str, str | None]:
    """(text, charset defect or None) of a text part, its charset checked against its bytes."""
    data = part_bytes(part)
    declared = param(part, "charset")
    if declared is None and content_type(part) == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        declared = meta.group(1).decode("ascii", "replace") if meta else None
    text, defect = decode_bytes(data, declared)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", ""), defect


def walk_leaves(message: Message) -> Iterator[Message]:
    """Leaf parts in document order, plus attached messages (message/rfc822) as single leaves; bounded."""
    count = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack and count < MAX_PARTS:
        part, depth = stack.pop()
        count += 1
        # A leaf's payload is not needed here: get_payload() would read its encoding and decode 8-bit text for nothing
        payload = part.get_payload() if part.is_multipart() else None
        kind = content_type(part)
        if kind.startswith("multipart/") and isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
        else:
            yield part


def inner_messages(part: Message) -> list[Message]:
    """The message(s) inside a message/rfc822 or message/delivery-status part, as the stdlib parsed them."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [child for child in payload if isinstance(child, Message)]
    return []
