"""Multipart boundaries found without compiling a regular expression for each one.

The stdlib's MIME parser (`email.feedparser`) compiles a regular expression for every multipart it reads, from
that multipart's boundary. Mail programs make a new boundary for every message, so Python's cache of compiled
patterns never helps, and the compile costs about 0.2 ms a multipart: more than the rest of the stdlib's parse of
a typical report (text and HTML alternatives, 4 KB). A photo adds a second multipart, and a second compile.

`install()` gives `email.feedparser` a stand-in for its `re` module: everything is the real module's, except that
a pattern of the one shape the parser builds for a boundary becomes a `BoundaryMatcher`, which matches the same
lines with a prefix test and one pattern compiled once. A stdlib whose pattern differs gets the real compile, as
before (`tests/parsers/test_boundaries.py` fails then, so the speed is not lost unnoticed).
"""

from __future__ import annotations

import email.feedparser
import re
from types import ModuleType
from typing import Any

# What email.feedparser builds from a boundary's separator ("--" + boundary), around re.escape(separator).
_HEAD = "(?P<sep>"
_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(_TAIL[1:])  # the same groups, matched where the separator ends
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class BoundaryMatcher:
    """`re.compile(_HEAD + re.escape(separator) + _TAIL)` for the parser's use: `match(line)` gives a match with
    the groups "end", "ws" and "linesep" of the same line (and None where the pattern gives None)."""

    __slots__ = ("pattern", "separator")

    def __init__(self, separator: str, pattern: str) -> None:
        self.separator = separator
        self.pattern = pattern

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, len(self.separator))


def boundary_separator(pattern: str) -> str | None:
    """The separator a pattern of the parser's boundary shape was built from, else None."""
    if not (pattern.startswith(_HEAD) and pattern.endswith(_TAIL)):
        return None
    escaped = pattern[len(_HEAD) : -len(_TAIL)]
    separator = _ESCAPED.sub(r"\1", escaped)
    return separator if re.escape(separator) == escaped else None  # anything else is not re.escape's output


class _FeedparserRe(ModuleType):
    """The `re` module as email.feedparser sees it once installed: the real one, but for boundary patterns."""

    def __init__(self) -> None:
        super().__init__("re")

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        separator = boundary_separator(pattern) if isinstance(pattern, str) and not flags else None
        if separator is None:
            return re.compile(pattern, flags)
        return BoundaryMatcher(separator, pattern)


def install() -> None:
    """Give email.feedparser the stand-in (once; every parse in this process after that uses it)."""
    if not isinstance(email.feedparser.re, _FeedparserRe):
        email.feedparser.re = _FeedparserRe()  # type: ignore[attr-defined]


def installed() -> bool:
    return isinstance(email.feedparser.re, _FeedparserRe)
