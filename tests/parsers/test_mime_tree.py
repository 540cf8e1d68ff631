"""`well_formed_tree` makes the stdlib's own tree, or leaves the message to the stdlib.

Compared with `email.message_from_bytes(data, policy=compat32)` on every fixture email, on edge cases of each rule
the stdlib applies (line endings, header lines, preambles, epilogues, boundary lines), on generated messages and
on random damage to real ones: wherever it gives a tree, the tree is the stdlib's, object for object.
"""

from __future__ import annotations

import random
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parsers.email  # noqa: F401  (installs parsers.boundaries, as in the service)
from parsers.mime_tree import well_formed_tree
from tests.parsers.email_fixtures import all_message_files


def _shape(message: Message) -> tuple[Any, ...]:
    """Everything the parser sets on a message, its parts' included."""
    payload = message._payload
    return (
        type(message),
        message._headers,
        [_shape(part) for part in payload] if isinstance(payload, list) else payload,
        message.preamble,
        message.epilogue,
        [type(defect) for defect in message.defects],
        message._unixfrom,
        message._default_type,
        message._charset,
        message.policy,
    )


def _check(data: bytes) -> bool:
    """The fast tree equals the stdlib's where there is one; whether there was one."""
    tree = well_formed_tree(data)
    if tree is not None:
        assert _shape(tree) == _shape(message_from_bytes(data, policy=compat32)), data[:300]
    return tree is not None


def test_every_fixture_email_gets_the_stdlibs_tree_and_most_without_it() -> None:
    files = all_message_files()
    assert len(files) > 300
    fast = sum(_check(path.read_bytes().lstrip(b"\r\n\t \xef\xbb\xbf")) for path in files)
    assert fast > len(files) * 0.4, (fast, len(files))  # the fast path is no dead letter


def _mail(body_type: str, body: str, eol: str = "\r\n", extra: str = "") -> bytes:
    head = f"From: Resident <r@x.example>\nTo: reports@city.example\nSubject: pothole\n{extra}"
    head += f"Content-Type: {body_type}\n"
    return (head + "\n" + body).replace("\n", eol).encode("utf-8", "surrogateescape")


ALTERNATIVE = "--b1\nContent-Type: text/plain\n\nplain text\n--b1\nContent-Type: text/html\n\n<p>html</p>\n--b1--\n"
NESTED = (
    "preamble\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\n\ntext\n--inner\n"
    "Content-Type: text/html\n\n<b>x</b>\n--inner--\ninner epilogue\n--outer\nContent-Type: image/jpeg\n"
    "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=a.jpg\n\n/9j/4AAQ\n--outer--\nend\n"
)
_EIGHT_BIT = "X-Caf\udce9: caf\udce9\n"  # a byte 0xE9 in a header, as BytesParser reads it
SIMPLE = [
    _mail("text/plain", "x\n", extra=_EIGHT_BIT.replace("X-Caf\udce9", "X-Cafe")),  # 8-bit value
    _mail("text/plain", "one line\n"),
    _mail("text/plain", "no final line ending"),
    _mail("text/plain", ""),
    _mail("text/plain; charset=utf-8", "two\n\nparagraphs\n\n\n", eol="\n"),
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE),
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE, eol="\n"),
    _mail("multipart/mixed; boundary=outer", NESTED),
    _mail("multipart/mixed; boundary=outer", NESTED, eol="\n"),
    _mail('multipart/alternative; boundary="b1"', "\n\n" + ALTERNATIVE + "\n\nepilogue\n"),  # blank preamble
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("--b1--\n", "--b1--")),  # close at the end
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("--b1\n", "--b1 \t\n")),  # blanks after
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("plain text", "--b1x\n--b1-- no\n-b1")),
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("--b1--\n", "--b1--\n--b1\nafter\n")),
    _mail('multipart/alternative; boundary="b1"', "--b1\n\n\n--b1\n\n--b1--\n"),  # parts without headers
    _mail("text/plain", "x\n", extra="X-Folded: first\n second\n\tthird\nX-Empty:\nX-Blank:   \n  \n"),
    _mail("text/plain", "x\n", extra="X-Tight:value\nX-Colons: a: b: c\n"),
    _mail("multipart/mixed; boundary=outer", NESTED.replace("--inner--\ninner epilogue\n", "--inner--\n")),
]
FALLBACK = [
    _mail("text/plain", "mixed\r\nline\nendings\n", eol="\n"),
    _mail("text/plain", "a bare\rCR\n", eol="\n"),
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("--b1--\n", "")),  # no close boundary
    _mail('multipart/alternative; boundary="b1"', "no boundary at all\n"),
    _mail('multipart/alternative; boundary="b1"', ALTERNATIVE.replace("--b1\n", "--b1\n--b1\n", 1)),  # in a row
    _mail("multipart/alternative", ALTERNATIVE),  # no boundary parameter
    _mail("multipart/mixed; boundary=b1", ALTERNATIVE, extra="Content-Transfer-Encoding: base64\n"),
    _mail("multipart/digest; boundary=b1", ALTERNATIVE),
    _mail("message/rfc822", "Subject: inner\n\nhello\n"),
    _mail("text/plain", "x\n", extra="Bad Header: has a space\n"),
    _mail("text/plain", "x\n", extra=": no name\n"),
    b"From someone@example.org Mon Jan  5 10:00:00 2026\r\nSubject: mbox\r\n\r\nbody\r\n",
    b" continuation first\r\nSubject: x\r\n\r\nbody\r\n",
    b"Subject: only headers\r\n",
    _mail("text/plain", "x\n", extra=_EIGHT_BIT),  # 8-bit name
]


@pytest.mark.parametrize("data", SIMPLE, ids=range(len(SIMPLE)))
def test_simple_forms_get_the_stdlibs_tree(data: bytes) -> None:
    assert _check(data)


@pytest.mark.parametrize("data", FALLBACK, ids=range(len(FALLBACK)))
def test_forms_with_rules_of_their_own_are_left_to_the_stdlib(data: bytes) -> None:
    assert well_formed_tree(data) is None
    message_from_bytes(data, policy=compat32)  # which reads them, defects and all


def _damaged(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    match rng.randrange(6):
        case 0:
            del lines[at]
        case 1:
            lines.insert(at, lines[rng.randrange(len(lines))])
        case 2:
            lines.insert(at, rng.choice([b"", b"\r", b" ", b"--", b"X: y\r", b"From x", b"--" + lines[at][2:12]]))
        case 3:
            lines[at] = lines[at].rstrip(b"\r")
        case 4:
            lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
        case _:
            return data[: rng.randrange(len(data))]
    return b"\n".join(lines)


def test_random_damage_to_real_mail_never_gives_another_tree() -> None:
    rng = random.Random(311)
    files = [path.read_bytes() for path in all_message_files()]
    real = [data for data in files if well_formed_tree(data) is not None]
    fast = 0
    for _ in range(3000):
        data = rng.choice(real)
        for _ in range(rng.randrange(1, 4)):
            data = _damaged(data, rng)
        fast += _check(data)
    assert fast > 500  # many damaged mails are still simple, and read the same


_PIECES = [*"ab -:\t=", "--b", "--b--", "--c", "X: 1", "\r", "\n", "Content-Type: multipart/mixed; boundary=c"]
_LINE = st.lists(st.sampled_from(_PIECES), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_LINE, max_size=12),
    st.sampled_from(["text/plain", 'multipart/mixed; boundary="b"', "multipart/alternative; boundary=c"]),
    st.sampled_from(["\r\n", "\n"]),
)
def test_generated_messages_get_the_stdlibs_tree_or_none(lines: list[str], kind: str, eol: str) -> None:
    _check(_mail(kind, "\n".join(lines), eol=eol))
    _check(_mail(kind, "--b\n" + "\n".join(lines) + "\n--b--\n", eol=eol))
