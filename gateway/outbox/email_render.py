"""Outbox email payload -> the bytes sent to the relay, written directly (RFC 5322, one text/plain UTF-8 part).

Building an `EmailMessage` and flattening it parses every header into structured objects and back, which costs more
than the rest of sending a reply. Our messages have one shape (a few known headers and a text body), so they are
written here with the standard library's encoders: RFC 2047 for words outside ASCII, quoted-printable for a body
that is not plain ASCII.
Addresses outside ASCII need SMTPUTF8 and are left to the general path (`render_email` returns None).
"""

from __future__ import annotations

import quopri
from email.header import Header
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Any

ADDRESS_HEADERS = frozenset({"from", "to", "reply-to", "cc", "sender"})
LINE_LIMIT = 998  # RFC 5322 §2.1.1: longer header lines are folded at spaces; shorter ones are kept whole
# Headers whose values must reach mail clients exactly as written (RFC 2369/8058 URLs): never folded or encoded.
VERBATIM = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


# Each reply reads our From twice and the resident's address twice (headers, then envelope): parse each once.
parsed_address = lru_cache(maxsize=4096)(parseaddr)


def _address(value: str) -> str | None:
    name, addr = parsed_address(value)
    if not addr.isascii():
        return None
    return value if name.isascii() else formataddr((name, addr), charset="utf-8")


def _fold(name: str, value: str) -> str:
    line = f"{name}: {value}"
    if len(line) <= LINE_LIMIT or name.lower() in VERBATIM:
        return line
    folded, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > 78 and current.strip() != f"{name}:":
            folded.append(current)
            current = ""
        current += f" {word}"
    folded.append(current)
    return "\r\n".join(folded)


def _header(name: str, value: str) -> str | None:
    value = " ".join(value.splitlines())  # a header value is one line; never let a stored value add headers
    if name.lower() in ADDRESS_HEADERS:
        rendered = _address(value)
        return None if rendered is None else _fold(name, rendered)
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return _fold(name, value)


def render_email(payload: dict[str, Any], *, date: str) -> bytes | None:
    """The message's bytes with CRLF line ends, or None when an address needs SMTPUTF8."""
    fields = [("From", payload["from"]), ("To", payload["to"]), ("Subject", payload["subject"]), ("Date", date)]
    fields += list(payload.get("headers", {}).items())
    lines = []
    for name, value in fields:
        line = _header(name, str(value))
        if line is None:
            return None
        lines.append(line)
    text = str(payload["text"]).replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= LINE_LIMIT for line in text.split("\n")):
        # As the standard library chooses: plain ASCII goes as it is, so a tracking link reads whole in any mailbox.
        encoding, body = "7bit", text.encode("ascii").replace(b"\n", b"\r\n")
    else:
        encoding, body = "quoted-printable", quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")
    lines += [
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
    ]
    head = "\r\n".join(lines).encode("ascii")
    return head + b"\r\n\r\n" + body + (b"" if body.endswith(b"\r\n") else b"\r\n")


def envelope(payload: dict[str, Any]) -> tuple[str, list[str]]:
    """MAIL FROM and RCPT TO, from the From and To fields as a mail client would take them."""
    return parsed_address(str(payload["from"]))[1], [parsed_address(str(payload["to"]))[1]]
