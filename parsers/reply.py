"""Only the new words of a reply: quoted history, quote headers and signatures removed from a plain-text body.

The quote headers in 13 languages maintained by `mail-parser-reply` are used as they are, and our own rules add
what it misses: Portuguese and Russian headers, headers that wrap over several lines, Outlook header blocks and
"Original Message" separators in more languages, bottom-posted and inline replies (text after a quote is kept),
wrapped links inside quotes, forwarded messages (kept whole) and mobile "Sent from my ..." lines.
Sign-offs such as "Thanks, Alex" are kept: they are short, and they carry the resident's name.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from itertools import accumulate
from re import Pattern

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from parsers import reply_patterns as rp

_MAX_SCAN_LINES = 2000  # quote headers sit near the top; a 750 KB quoted thread must not cost seconds
_MAX_HEADER_LINE = 1000  # longer lines are never quote headers
_LOOKBACK = 2  # lines a wrapped "On ... wrote:" header may take above its last line
# Languages whose library header patterns are too loose to use unless the message is known to be in them
# (Polish accepts a single "Data:" line as a header).
_LOOSE_LIBRARY_LANGUAGES = {"pl", "it", "david"}


@lru_cache(maxsize=32)
def _library_headers(languages: tuple[str, ...]) -> Pattern[str]:
    return EmailMessage(text="", languages=list(languages)).HEADER_REGEX


def _library_header_lines(lines: list[str], language: str | None) -> dict[int, int]:
    """Quote headers mail-parser-reply finds, as {first line: last line} (its patterns read stripped lines)."""
    languages = ["en"]
    if language and language in MAIL_LANGUAGES and language != "en":
        languages.insert(0, language)
    languages += [code for code in ("de", "es", "fr", "nl", "sv", "da", "zh", "ja") if code not in languages]
    languages = [code for code in languages if code == language or code not in _LOOSE_LIBRARY_LANGUAGES]
    # Header lines are short: long lines are cut so a 700 KB quoted line cannot make the patterns crawl.
    shortened = [line.strip()[:_MAX_HEADER_LINE] for line in lines]
    normalised = "\n".join(shortened)
    starts = list(accumulate((len(line) + 1 for line in shortened[:-1]), initial=0))
    found: dict[int, int] = {}
    for match in _library_headers(tuple(languages)).finditer(normalised):
        begin, end = match.start(), match.end()
        while begin < end and normalised[begin] == "\n":
            begin += 1
        while end > begin and normalised[end - 1] == "\n":
            end -= 1
        found[bisect.bisect_right(starts, begin) - 1] = bisect.bisect_right(starts, max(begin, end - 1)) - 1
        if len(found) >= 8:
            break
    return found


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _next_text_line(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _header_block_at(lines: list[str], index: int) -> bool:
    """Two header lines ("From:", "Sent:", ... in any language) within three lines, or one "From:" with an address."""
    head = lines[index][:40]
    if (":" not in head and "：" not in head) or not rp.HEADER_LINE.match(lines[index]):
        return False
    if rp.FROM_LINE.match(lines[index].strip()):
        return True
    following = [line for line in lines[index + 1 : index + 4] if line.strip()][:2]
    return any(rp.HEADER_LINE.match(line) for line in following)


def _wrote_header_start(lines: list[str], index: int) -> int:
    """Where a quote header ending on `index` begins: up to two lines above, if one of them opens it."""
    start = index
    for back in range(1, _LOOKBACK + 1):
        above = index - back
        if above < 0 or not lines[above].strip() or _is_quoted(lines[above]):
            break
        if rp.WROTE_OPENER.match(lines[above].strip()) or rp.DATEISH.search(lines[above]):
            start = above
    return start


def _terminator(text: str) -> bool:
    # Every quote-header ending is a colon, dashes or a CJK verb: a cheap test before the costly pattern.
    return (text[-1] in ":：-" or text.endswith(("写道", "寫道", "のメッセージ"))) and bool(
        rp.WROTE_TERMINATOR.search(text[-200:])
    )


def _first_own_marker(lines: list[str]) -> int:
    """The first line our own rules see as history or a quote header; the library need not read past it."""
    for index, line in enumerate(lines):
        text = line.strip()
        if not text or _is_quoted(line) or len(text) > _MAX_HEADER_LINE:
            continue
        if rp.FORWARD_MARKER.match(text) or rp.SEPARATOR.match(text) or _header_block_at(lines, index):
            return index
        if _terminator(text):
            return index
    return len(lines)


def _may_hold_library_header(lines: list[str]) -> bool:
    # The library's headers all end a line with a colon or start one with a header key.
    return any(line.rstrip().endswith((":", "：")) or rp.HEADER_LINE.match(line) for line in lines)


def _find_history(lines: list[str], language: str | None) -> tuple[int, set[int], dict[int, str]]:
    """(first line of unquoted history, quote-header lines to drop, lines to shorten to their reply part)."""
    drop: set[int] = set()
    shorten: dict[int, str] = {}
    first = _first_own_marker(lines)
    prefix = lines[: first + 1]
    library = _library_header_lines(prefix, language) if _may_hold_library_header(prefix) else {}
    begin = min(first, *library) if library else first  # nothing above the first marker can be history
    for index in range(begin, len(lines)):
        line = lines[index]
        text = line.strip()
        if not text or _is_quoted(line) or len(text) > _MAX_HEADER_LINE:
            continue
        if rp.FORWARD_MARKER.match(text):
            return len(lines), drop, shorten
        if rp.SEPARATOR.match(text) or (rp.OUTLOOK_RULE.match(text) and _block_follows(lines, index)):
            return index, drop, shorten
        if _header_block_at(lines, index):
            return index, drop, shorten
        wrote = _terminator(text)
        if not wrote and index not in library:
            continue
        start, end = (_wrote_header_start(lines, index), index) if wrote else (index, library[index])
        following = _next_text_line(lines, end + 1)
        header = " ".join(lines[start : end + 1])
        if following is not None and _is_quoted(lines[following]):
            drop.update(range(start, end + 1))
            shared = rp.SHARED_LINE.match(lines[start].strip())
            if shared:
                shorten[start] = shared.group("reply")
            continue
        if wrote and not (rp.WROTE_OPENER.match(lines[start].strip()) or rp.DATEISH.search(header) or "@" in header):
            continue  # "my neighbour wrote:" in running text is not a quote header
        shared = rp.SHARED_LINE.match(lines[start].strip())
        if shared:
            shorten[start] = shared.group("reply")
            return start + 1, drop, shorten
        return start, drop, shorten
    return len(lines), drop, shorten


def _block_follows(lines: list[str], index: int) -> bool:
    following = _next_text_line(lines, index + 1)
    return following is not None and following <= index + 3 and bool(rp.HEADER_LINE.match(lines[following]))


def _quote_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Runs of quoted lines as (first, last); blank lines and wrapped links between quoted lines belong to them."""
    blocks: list[tuple[int, int]] = []
    index = 0
    while index < len(lines):
        if not _is_quoted(lines[index]):
            index += 1
            continue
        first = last = index
        probe = index + 1
        while probe < len(lines):
            line = lines[probe]
            if _is_quoted(line):
                last = probe
            elif line.strip() and not (
                rp.LINK_CONTINUATION.match(line.strip()) and probe + 1 < len(lines) and _is_quoted(lines[probe + 1])
            ):
                break
            probe += 1
        blocks.append((first, last))
        index = last + 1
    return blocks


def _looks_like_intro(lines: list[str], first: int) -> list[int]:
    """The fewest lines just above a quote that introduce it without a known pattern ("26.06.2014, A <a@b.c>:")."""
    above = first - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    group: list[int] = []
    while above >= 0 and lines[above].strip() and not _is_quoted(lines[above]) and len(group) < 3:
        group.insert(0, above)
        above -= 1
        text = " ".join(lines[i].strip() for i in group)
        dated, addressed = bool(rp.DATEISH.search(text)), "@" in text
        if (text.endswith((":", "：")) and (dated or addressed)) or (dated and addressed):
            while above >= 0 and lines[above].rstrip().endswith(("<", ",", '"')):  # a header wrapped mid-address
                group.insert(0, above)
                above -= 1
            return group
    return []


def _drop_quotes(lines: list[str], drop: set[int]) -> set[int]:
    blocks = _quote_blocks(lines)
    for first, last in blocks:
        introduced = first > 0 and any(i in drop for i in range(max(0, first - 4), first))
        rest = _next_text_line(lines, last + 1)
        at_end = rest is None
        if introduced or at_end or last > first or first == _next_text_line(lines, 0):
            drop.update(range(first, last + 1))
            if not introduced:
                drop.update(_looks_like_intro(lines, first))
    return drop


def _drop_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if not index or not any(text.strip() for text in lines[:index]):
            continue
        footer = rp.OUTLOOK_RULE.match(line.strip()) and rp.LIST_FOOTER.search(" ".join(lines[index + 1 : index + 3]))
        if rp.SIGNATURE_DELIMITER.match(line) or footer:
            lines = lines[:index]
            break
    lines = [line for line in lines if not rp.MOBILE_SIGNATURE.match(line.strip())]
    while lines and rp.DECORATION.match(lines[-1]):
        lines.pop()
    return lines


def strip_reply(text: str, language: str | None = None) -> str:
    """The new text of a reply. `language` (ISO 639-1) adds that language's library patterns to the defaults."""
    if not text or not text.strip():
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    scanned, tail = lines[:_MAX_SCAN_LINES], lines[_MAX_SCAN_LINES:]
    cut, drop, shorten = _find_history(scanned, language)
    if cut < len(scanned):
        tail = []
    kept = scanned[:cut] + tail
    for index, reply in shorten.items():
        if index < len(kept):
            kept[index] = reply
            drop.discard(index)
    drop = _drop_quotes(kept, drop)
    new = _drop_signature([line for index, line in enumerate(kept) if index not in drop])
    return "\n".join(line.rstrip() for line in new).strip("\n").strip()
