"""The parser's fast paths give exactly what its general paths give: addresses, the header block, MIME parameters.

Each fast path handles the common form without the stdlib's general (and slow) readers; anything else goes the
general way. These tests compare the two on every header of the fixture emails, on hand-picked edge cases and on
generated input, and check that the common form really takes the fast path.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parsers.headers as headers
from parsers import mime
from parsers.email import _OBSOLETE_FIELD, _header_end, _repair_header_block, drop_damaged_lines
from tests.parsers.email_fixtures import all_message_files

ADDRESS_HEADERS = ("from", "to", "cc", "reply-to", "sender", "delivered-to", "x-original-to")
EDGE_ADDRESSES = [
    "Dmitri Kowalski <dmitri.kowalski0@mail.example>",
    "a@b.c",
    "<a@b.c>",
    '"Doe, Jane" <J@X.org>',
    '"" <a@b>',
    '" Jane " <j@x>',
    '"a@b" <c@d>',
    '"Jane <x>" <j@x>',
    '"=?utf-8?q?Ren=C3=A9?=" <r@x>',
    "=?utf-8?q?Ren=C3=A9?= <r@x>",
    "=?utf-8?q?x?=@b.c",
    "x <=?a@b>",
    " Jane  Doe <j@x>",
    "Jane\tDoe <j@x>",
    "Jane <a@b> ",
    "\tJane <a@b>",
    "O'Brien <a@b>",
    "Jane Q. Public <a@b>",
    "a.@b",
    ".a@b",
    "a..b@c",
    "a@b..c",
    "a@b.",
    '"a\\\\b" <c@d>',
    "Jane <a@b>, Joe <c@d>",
    "Jane (home) <a@b>",
    "a@b (Jane)",
    "group: a@b, c@d;",
    "Jane <a@b",
    "Jane a@b>",
    "a!#$%&'*+/=?^_`{|}~-z@dom-ain.example",
    "user+tag@Example.ORG",
    "UPPER CASE <UP@CASE.ORG>",
    "123 <1@2.3>",
    "<>",
    "",
    " ",
    "@b",
    "a@",
    "Jane <@b>",
    "René <r@x>",
    "Caf\udcc3\udca9 <c@x>",
]


def _general(value: str) -> list[tuple[str, str]]:
    return headers.read_addresses(headers._FOLD.sub("", headers.unescape_raw(value)))


def _fixture_messages() -> list[Message]:
    return [message_from_bytes(path.read_bytes(), policy=compat32) for path in all_message_files()]


@pytest.fixture(scope="module")
def fixture_messages() -> list[Message]:
    return _fixture_messages()


@pytest.mark.parametrize("value", EDGE_ADDRESSES)
def test_addresses_read_fast_are_those_read_in_general(value: str) -> None:
    assert headers.parse_addresses(value) == (_general(value) if value else [])


def test_every_address_header_of_the_fixtures_reads_the_same(fixture_messages: list[Message]) -> None:
    seen = 0
    for message in fixture_messages:
        for name, value in message.items():
            if name.lower() in ADDRESS_HEADERS:
                seen += 1
                assert headers.parse_addresses(str(value)) == _general(str(value)), value
    assert seen > 500


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9 .@<>\"',;:()\\=?_-+\t")), max_size=40))
def test_generated_address_headers_read_the_same(value: str) -> None:
    assert headers.parse_addresses(value) == (_general(value) if value else [])


def test_plain_addresses_skip_the_general_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_: list[str]) -> list[tuple[str, str]]:
        raise AssertionError("the general reader was used")

    monkeypatch.setattr(headers, "getaddresses", refuse)
    assert headers.parse_addresses("Jane Doe <Jane@Example.org>") == [("Jane Doe", "jane@example.org")]
    assert headers.parse_addresses('"Doe, Jane" <j@x.org>') == [("Doe, Jane", "j@x.org")]
    assert headers.parse_addresses("j@x.org") == [("", "j@x.org")]


# ---- the header block -------------------------------------------------------------------------------------------


def _repair_by_lines(data: bytes) -> tuple[bytes, list[str]]:
    """The header repair without its fast checks: every block read line by line, the reference for those checks."""
    end = re.search(rb"\r?\n\r?\n", data)
    head = data[: end.start()] if end else data[:262_144]
    defects: list[str] = []
    if _OBSOLETE_FIELD.search(head):
        fixed = _OBSOLETE_FIELD.sub(rb"\1:", head)
        data, head = fixed + data[len(head) :], fixed
        defects.append("obsolete-field-syntax")
    lines = head.split(b"\n")
    if lines[0].startswith(b"From ") and len(lines) > 1:
        data, head = b"\n".join(lines[1:]) + data[len(head) :], b"\n".join(lines[1:])
        defects.append("mbox-from-line")
    return drop_damaged_lines(data, head, defects)


HEADER_LINES = [
    b"From: a@b",
    b"Subject: hi",
    b"Subject  : obsolete",
    b"X-Thing\t: tab",
    b" continued",
    b"\tcontinued",
    b"not a header line",
    b"",
    b"\r",
    b"From someone@example Mon Jan 5 10:00:00 2026",
    b": no name",
    b"Bad Name: value",
    b"body text",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(HEADER_LINES), max_size=8), st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_generated_header_blocks_are_repaired_as_line_by_line(lines: list[bytes], eol: bytes, body: bool) -> None:
    data = eol.join(lines) + (eol + eol + b"the body" + eol if body else b"")
    assert _repair_header_block(data) == _repair_by_lines(data)


def test_every_fixture_header_block_is_repaired_as_line_by_line() -> None:
    for path in all_message_files():
        data = path.read_bytes().lstrip(b"\r\n\t \xef\xbb\xbf")
        assert _repair_header_block(data) == _repair_by_lines(data), path.name


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=30).map(lambda b: b.replace(b"\x00", b"\n")) | st.text("\r\n a").map(str.encode))
def test_the_blank_line_is_found_where_the_regex_finds_it(data: bytes) -> None:
    match = re.search(rb"\r?\n\r?\n", data)
    assert _header_end(data) == (match.start() if match else -1)


# ---- MIME parameters and types ----------------------------------------------------------------------------------


def _stdlib_param(part: Message, name: str, header: str) -> object:
    try:
        return part.get_param(name, header=header)
    except Exception:  # (the helper reads such a header as having no parameters)
        return None


def test_memoised_types_and_parameters_are_the_stdlibs() -> None:
    checked = 0
    for message in _fixture_messages():  # fresh trees: nothing memoised yet
        for part in message.walk():
            for header, names in (("content-type", ("charset", "name", "format", "delsp", "report-type",
                                                    "boundary", "Charset")),
                                  ("content-disposition", ("filename", "FileName"))):  # fmt: skip
                for name in names:
                    expected = _stdlib_param(part, name, header)
                    assert mime.param(part, name, header) == mime.decode_param(expected), (name, expected)
                    checked += 1
            assert mime.content_type(part) == mime._read_content_type(part)
    assert checked > 5000


def test_every_fixture_parameter_header_reads_as_the_stdlib_reads_it() -> None:
    plain = 0
    for message in _fixture_messages():
        for part in message.walk():
            for header in ("content-type", "content-disposition"):
                value = part.get(header)
                found = mime.plain_params(value) if isinstance(value, str) else None
                if found is not None:
                    assert found == part.get_params(header=header), value
                    plain += 1
    assert plain > 500


_PARAMETER_PIECES = [*"aB ;=\"<>\t,'*\\", "text/plain", "charset", "=utf-8", '"x;y"', "name*0"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PARAMETER_PIECES), max_size=12))
def test_generated_parameter_headers_read_as_the_stdlib_reads_them(pieces: list[str]) -> None:
    value = "".join(pieces)
    part = Message()
    part["Content-Type"] = value
    found = mime.plain_params(value)
    assert found is None or found == part.get_params()
    if "\\" in value or "*" in value:
        assert found is None  # RFC 2231 and backslash escapes: the stdlib's own reading


def _counted_get_params(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets an entry for every call of the stdlib's `Message.get_params` from now on."""
    calls: list[str] = []
    original = Message.get_params

    def counting(self: Message, *args: object, **kwargs: object) -> object:
        calls.append("get_params")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Message, "get_params", counting)
    return calls


def test_plain_parameters_skip_the_stdlibs_reader_and_others_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = message_from_bytes(b'Content-Type: text/plain; charset="utf-8"; format=flowed\n\nhi', policy=compat32)
    rfc2231 = message_from_bytes(b"Content-Type: text/plain; charset*=utf-8''%41\n\nhi", policy=compat32)
    calls = _counted_get_params(monkeypatch)
    for _ in range(3):
        assert mime.param(plain, "charset") == "utf-8" and mime.param(plain, "FORMAT") == "flowed"
        assert mime.param(plain, "delsp") is None
        assert mime.param(rfc2231, "charset") is not None
    assert calls == ["get_params"]  # the RFC 2231 header's, once


def test_a_part_is_read_once_however_often_it_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    part = message_from_bytes(b"Content-Type: text/plain; charset*=utf-8''utf-8; format=flowed\n\nhi", policy=compat32)
    calls = _counted_get_params(monkeypatch)
    for _ in range(3):
        assert mime.param(part, "charset") == "utf-8"
        assert mime.param(part, "FORMAT") == "flowed"
        assert mime.param(part, "delsp") is None
        assert mime.content_type(part) == "text/plain"
    assert calls == ["get_params"]
