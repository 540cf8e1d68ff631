"""Header values -> clean Python values: encoded words, addresses, dates and Message-IDs, tolerant of bad input.

The stdlib decoders give up on the header damage real mail carries (unknown charsets, encoded words split in the
middle of a UTF-8 sequence, raw 8-bit bytes, missing base64 padding); these never raise.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_tz

from parsers.charsets import decode_bytes

# RFC 2047 encoded word; the payload may (wrongly) contain spaces, so it runs to the next "?=".
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,998})>")
_BARE_ID = re.compile(r"[^\s<>,;()\"]{1,998}@[^\s<>,;()\"]{1,998}")
_ZONE_AFTER_TIME = re.compile(r"\d:\d\d(?::\d\d)?(?:\.\d+)?\s*(?:[-+]\d{2,4}|\(?[A-Za-z]{1,5}\b)")
# One address as mail apps write it: `Name <local@domain>`, `"Name" <local@domain>` or a bare `local@domain`, with
# a name of plain words and a dot-atom address. Read without the stdlib's general parser (about 15 µs a header);
# anything else (groups, comments, several addresses, encoded words outside quotes) still goes through it.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(
    rf"""[ \t]*(?:(?:"([^"\\\r\n]*)"|([A-Za-z0-9]+(?: [A-Za-z0-9]+)*))[ \t]*<({_DOT_ATOM}@{_DOT_ATOM})>"""
    rf"""|({_DOT_ATOM}@{_DOT_ATOM}))[ \t]*"""
)
_MAX_HEADER_CHARS = 16_384  # a longer header value is cut: nothing legitimate needs more, and regexes stay fast


def unescape_raw(value: str) -> str:
    """A header as the stdlib parser stores it (8-bit bytes as surrogates) -> text, guessing the 8-bit charset."""
    value = value[:_MAX_HEADER_CHARS]
    if value.isascii():
        return decode_bytes(value.encode("ascii"))[0] if "\x1b" in value else value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text (a parser that decoded it)
        return value
    return decode_bytes(raw)[0]


def _decode_payload(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        compact = "".join(payload.split())
        compact += "=" * (-len(compact) % 4)
        try:
            return base64.b64decode(compact)
        except (binascii.Error, ValueError):
            try:  # a stray last character: decode what is whole
                return base64.b64decode(compact[: len(compact) // 4 * 4 - 4] or "")
            except (binascii.Error, ValueError):
                return payload.encode("ascii", "replace")
    data = payload.replace("_", " ").encode("ascii", "replace")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def decode_words(value: str | None) -> str:
    """Unfold a header and decode its RFC 2047 encoded words; adjacent words of one charset are joined as bytes,
    so a character split across two words (a common encoder bug) survives."""
    if not value:
        return ""
    text = _FOLD.sub("", unescape_raw(str(value)))
    if "=?" not in text:
        return text.strip()
    out: list[str] = []
    pending: bytes = b""
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        if pending and not _BETWEEN_WORDS.fullmatch(gap):
            out.append(decode_bytes(pending, pending_charset)[0])
            pending = b""
        if gap and (not _BETWEEN_WORDS.fullmatch(gap) or pos == 0):
            out.append(gap)
        charset = match.group(1)
        if pending and charset.lower() != pending_charset.lower():
            out.append(decode_bytes(pending, pending_charset)[0])
            pending = b""
        pending_charset = charset
        pending += _decode_payload(match.group(2), match.group(3))
        pos = match.end()
    if pending:
        out.append(decode_bytes(pending, pending_charset)[0])
    out.append(text[pos:])
    return "".join(out).strip()


def parse_addresses(value: str | None) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; entries without an address are dropped."""
    if not value:
        return []
    text = _FOLD.sub("", unescape_raw(str(value)))
    plain = _PLAIN_ADDRESS.fullmatch(text)
    if plain is not None:
        quoted, words, bracketed, bare = plain.groups()
        if not (bare or bracketed).startswith("=?"):
            return [(decode_words(quoted if quoted is not None else words or ""), (bare or bracketed).lower())]
    return read_addresses(text)


def read_addresses(text: str) -> list[tuple[str, str]]:
    """`parse_addresses` of an unfolded header by the stdlib's general parser, whatever its form."""
    pairs: list[tuple[str, str]] = []
    for name, addr in getaddresses([text]):
        addr = addr.strip().strip("<>").lower()
        if addr and not addr.startswith("=?"):
            pairs.append((decode_words(name), addr))
    return pairs


def parse_date(value: str | None) -> tuple[datetime | None, str | None]:
    """An aware datetime from a Date header, or None; a date without a zone is read as UTC, and says so."""
    if not value:
        return None, None
    text = unescape_raw(str(value)).strip()
    try:
        parts = parsedate_tz(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parts = None
    if parts is None:
        return None, "bad-date"
    *fields, offset = parts
    defect = None if _ZONE_AFTER_TIME.search(text) else "date-without-zone"
    try:
        naive = datetime(*fields[:6])  # type: ignore[misc]
        if offset is None or defect:
            return naive.replace(tzinfo=UTC), defect
        return naive.replace(tzinfo=timezone(timedelta(seconds=offset))), None
    except (ValueError, OverflowError, OSError):
        return None, "bad-date"


def first_message_id(value: str | None) -> str | None:
    """The first Message-ID in a header, without angle brackets."""
    ids = message_ids(value)
    return ids[0] if ids else None


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every Message-ID in a header (References, In-Reply-To), in order, without brackets or repeats."""
    if not value:
        return ()
    text = unescape_raw(str(value))
    found = _ANGLE_ID.findall(text) or _BARE_ID.findall(text)
    if not found:
        bare = text.strip().split()
        found = [bare[0].strip("<>")] if len(bare) == 1 and bare[0].strip("<>") else []
    return tuple(dict.fromkeys(found))
