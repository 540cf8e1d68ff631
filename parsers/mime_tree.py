"""The stdlib's MIME tree of a well-formed message, built by cutting at its boundaries instead of line by line.

`email.feedparser` reads a message one line at a time, trying each line against every open multipart's boundary
and against the header patterns: most of the time `parse_email` spends in the stdlib. Most real mail is simple in
the ways that matter here: one kind of line ending, every header line a field or its continuation, each
multipart's boundary lines where they should be. For such a message, `well_formed_tree` makes the very tree
`email.message_from_bytes(data, policy=compat32)` makes (the same `Message` objects, headers, payloads, preambles
and epilogues), finding the blank lines and boundary lines with substring searches.

Anything else gives None, and the caller uses the stdlib: mixed or bare-CR line endings, a header line the stdlib
would take for the start of the body, a multipart without its boundary or close boundary, boundary lines in a row,
attached messages (message/*), digests, a multipart with an encoding RFC 2046 forbids, deep nesting. Those are the
cases where the stdlib records defects or applies rules of its own; it stays their one reader.
`tests/parsers/test_mime_tree.py` compares the two trees on every fixture email and on generated variants.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from email.message import Message

from parsers.boundaries import BoundaryMatcher

MAX_DEPTH = 12  # deeper nesting is left to the stdlib (and to parse_email's own limits)
# email.feedparser.headerRE's field line ("Name:" of printable ASCII but the colon) with its continuation lines, and a
# block of nothing else. The value starts after the blanks that follow the colon (compat32's header_source_parse).
_NAME, _REST = r"[!-9;-~]+", r"[^\n]*\n(?:[ \t][^\n]*\n)*"  # the rest: the line's own, then its continuations
_HEADER_BLOCK = re.compile(f"(?:{_NAME}:{_REST})*")
_FIELD = re.compile(f"({_NAME}):[ \\t]*({_REST})")
_MULTIPART_ENCODINGS = ("7bit", "8bit", "binary")


class _NotSimple(Exception):
    """The message needs the stdlib's reading."""


@dataclass(frozen=True, slots=True)
class _BoundaryLine:
    start: int
    end: int  # after its line ending
    closes: bool


def well_formed_tree(data: bytes) -> Message | None:
    """The compat32 tree of `data` as the stdlib's parser makes it, or None when the message is not simple enough
    to be sure of that without the stdlib."""
    text = data.decode("ascii", "surrogateescape")  # as email.parser.BytesParser reads bytes
    crlf = text.count("\r\n")
    if crlf:
        if text.count("\r") != crlf or text.count("\n") != crlf:
            return None
        eol = "\r\n"
    elif "\r" in text:
        return None
    else:
        eol = "\n"
    try:
        return _read_part(text, 0, len(text), eol, 0)
    except Exception:  # _NotSimple, or a header the stdlib's own readers choke on: the stdlib's parse decides
        return None


def _read_part(text: str, start: int, end: int, eol: str, depth: int) -> Message:
    if depth > MAX_DEPTH:
        raise _NotSimple
    if text.startswith(eol, start, end):  # no header lines: the blank line comes first
        headers: list[tuple[str, str]] = []
        body = start + len(eol)
    else:
        blank = text.find(eol + eol, start, end)
        if blank < 0:
            raise _NotSimple  # no blank line before the part ends
        headers = _header_fields(text[start : blank + len(eol)], eol)
        body = blank + 2 * len(eol)
    part = Message()
    part._headers = headers  # what Message.set_raw appends to, one field at a time
    kind = part.get_content_type()
    if kind.startswith("message/") or kind == "multipart/digest":
        raise _NotSimple
    if kind.startswith("multipart/"):
        _read_multipart(part, text, body, end, eol, depth)
    else:
        part._payload = text[body:end]
    return part


def _header_fields(block: str, eol: str) -> list[tuple[str, str]]:
    """The (name, value) of each field, as compat32's header_source_parse gives them; `block` ends with `eol`."""
    if not _HEADER_BLOCK.fullmatch(block):
        raise _NotSimple  # a line the stdlib would take for the body, an envelope "From " line, or a bad first line
    return [(name, value.rstrip("\r\n")) for name, value in _FIELD.findall(block)]


def _read_multipart(part: Message, text: str, body: int, end: int, eol: str, depth: int) -> None:
    encoding = part.get("content-transfer-encoding", "8bit")
    boundary = part.get_boundary()
    if boundary is None or str(encoding).lower() not in _MULTIPART_ENCODINGS:
        raise _NotSimple
    lines = _boundary_lines(text, body, end, "--" + boundary)
    if not lines or lines[0].closes:
        raise _NotSimple  # no start boundary
    if lines[0].start > body:  # RFC 2046: the line ending before a boundary belongs to the boundary
        part.preamble = text[body : lines[0].start - len(eol)]
    children: list[Message] = []
    for this, following in itertools.pairwise(lines):
        if following.start == this.end:
            raise _NotSimple  # boundary lines in a row: the stdlib skips them by a rule of its own
        child = _read_part(text, this.end, following.start, eol, depth + 1)
        _drop_final_line_ending(child, eol)
        children.append(child)
        if following.closes:
            part._payload = children
            part.epilogue = text[following.end : end]
            return
    raise _NotSimple  # no close boundary


def _boundary_lines(text: str, start: int, end: int, separator: str) -> list[_BoundaryLine]:
    """This multipart's boundary lines between `start` and `end`, up to the first close boundary."""
    matcher = BoundaryMatcher(separator, "")
    found: list[_BoundaryLine] = []
    at = text.find(separator, start, end)
    while at >= 0:
        if at == start or text[at - 1] == "\n":
            line_end = text.find("\n", at, end)
            line_end = end if line_end < 0 else line_end + 1
            match = matcher.match(text[at:line_end])
            if match is not None:
                found.append(_BoundaryLine(at, line_end, bool(match.group("end"))))
                if found[-1].closes:
                    return found
        at = text.find(separator, at + len(separator), end)
    return found


def _drop_final_line_ending(child: Message, eol: str) -> None:
    """What the stdlib does to a part once the boundary after it is read: the line ending before the boundary
    leaves the part's payload, or its epilogue when it is a multipart (an empty epilogue becomes None)."""
    if isinstance(child._payload, list):
        epilogue = child.epilogue
        child.epilogue = epilogue.removesuffix(eol) if epilogue else None
    elif child._payload:
        child._payload = child._payload.removesuffix(eol)
