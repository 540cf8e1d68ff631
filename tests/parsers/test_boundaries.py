"""parsers/boundaries.py: multipart boundaries matched as the stdlib's own pattern matches them, without its compile."""

from __future__ import annotations

import email.feedparser
import random
import re
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest

import parsers.email  # noqa: F401  (installs the matcher)
from parsers.boundaries import BoundaryMatcher, boundary_separator, installed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
_FAST = email.feedparser.re


def _stdlib_pattern(separator: str) -> str:
    """The pattern email.feedparser builds for a boundary (Lib/email/feedparser.py, `_parsegen`)."""
    return "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


def _groups(found: re.Match[str] | None) -> Any:
    return None if found is None else (found.group("end"), found.group("ws"), found.group("linesep"), found.end())


def test_the_stdlib_parser_goes_through_the_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a new Python builds its boundary pattern otherwise, this fails: the parse stays right, but slow."""
    assert installed()
    used: list[str] = []
    real = BoundaryMatcher.match
    monkeypatch.setattr(BoundaryMatcher, "match", lambda self, line: used.append(line) or real(self, line))
    raw = (
        b'Content-Type: multipart/alternative; boundary="b(1)+?"\r\n\r\n--b(1)+?\r\nContent-Type: text/plain\r\n\r\n'
        b"plain\r\n--b(1)+?\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b(1)+?-- \r\n"
    )
    message = message_from_bytes(raw, policy=compat32)
    assert used
    assert [part.get_content_type() for part in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert message.get_payload()[1].get_payload() == "<p>html</p>"


def test_a_line_matches_as_the_compiled_pattern_matches_it() -> None:
    chance = random.Random(2046)
    alphabet = "ab-_=.()+?*[]{}|^$\\/:'\" \té"
    tails = ["", "--", " ", "\t", "--  ", "\r\n", "\n", "\r", "--\r\n", "-- \n", " x", "--x", "\n\n", "-", "---\r\n"]
    for _ in range(3000):
        separator = "--" + "".join(chance.choice(alphabet) for _ in range(chance.randint(1, 12)))
        compiled = re.compile(_stdlib_pattern(separator))
        matcher = _FAST.compile(_stdlib_pattern(separator))
        assert isinstance(matcher, BoundaryMatcher)
        for tail in tails:
            for line in (separator + tail, separator[:-1] + tail, "x" + separator + tail, separator.upper() + tail):
                assert _groups(matcher.match(line)) == _groups(compiled.match(line)), (separator, line)


def test_other_patterns_are_compiled_as_before() -> None:
    assert boundary_separator(r"(?P<sep>a)") is None
    assert boundary_separator(_stdlib_pattern("--a").replace("(?P<sep>", "(?P<sep>x|")) is None  # not re.escape's
    assert isinstance(_FAST.compile(r"\r\n|\r|\n"), re.Pattern)
    assert isinstance(_FAST.compile(_stdlib_pattern("--a"), re.IGNORECASE), re.Pattern)  # flags: the real thing
    assert _FAST.escape("a.b") == re.escape("a.b") and _FAST.IGNORECASE == re.IGNORECASE


def _tree(message: Message) -> list[Any]:
    return [
        (
            part.get_content_type(),
            part.preamble,
            part.epilogue,
            [type(d).__name__ for d in part.defects],
            None if part.is_multipart() else part.get_payload(),
        )
        for part in message.walk()
    ]


def test_every_fixture_email_parses_to_the_same_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real third-party messages of tests/fixtures/email, multiparts nested and broken among them."""
    mails = [p.read_bytes() for p in sorted(FIXTURES.rglob("*.eml"))]
    assert len(mails) > 500
    fast = [_tree(message_from_bytes(raw, policy=compat32)) for raw in mails]
    monkeypatch.setattr(email.feedparser, "re", re)
    assert [_tree(message_from_bytes(raw, policy=compat32)) for raw in mails] == fast
    assert sum(len(tree) > 1 for tree in fast) > 100  # many of them multipart
