"""The SMTP edge's cheap readings give exactly what the general parsers give, and really take the cheap path."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from gateway.ingest import smtp_scan
from gateway.ingest.smtp_scan import IngestSMTP, message_id_of

FIXTURES = Path(__file__).parents[2] / "fixtures" / "email"
EMAILS = sorted(p for p in FIXTURES.rglob("*") if p.is_file())


def reference_message_id(raw: bytes) -> str | None:
    """The reading the scan replaces: the compat32 header parser over the header block."""
    head, _, _ = raw.partition(b"\r\n\r\n")
    if len(head) == len(raw):
        head, _, _ = raw.partition(b"\n\n")
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n").get("Message-ID")
    except Exception:
        return None
    if not value:
        return None
    return str(value).strip().strip("<>").strip()[:490] or None


def as_crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_fixture_set_is_large() -> None:
    assert len(EMAILS) > 300


@pytest.mark.parametrize("variant", [lambda raw: raw, as_crlf], ids=["as-stored", "crlf"])
def test_every_fixture_email_gives_the_parsers_message_id(variant) -> None:
    mismatches = []
    for path in EMAILS:
        raw = variant(path.read_bytes())
        if message_id_of(raw) != reference_message_id(raw):
            mismatches.append(path.name)
    assert mismatches == []


HEAD = b"Received: from a.example by b.example;\r\n\tMon, 1 Jan 2026 00:00:00 +0000\r\nFrom: r@a.example\r\n"
EDGE_CASES = [
    HEAD + b"Message-ID: <plain@a.example>\r\n\r\nbody",
    HEAD + b"message-id:<lower@a.example>  \r\n\r\nbody",
    HEAD + b"Message-Id: \r\n\r\nbody",  # empty
    HEAD + b"Message-ID: <folded@\r\n a.example>\r\n\r\nbody",
    HEAD + b"Message-ID:\r\n <next-line@a.example>\r\n\r\nbody",
    HEAD + b"Message-ID: <first@a.example>\r\nMessage-ID: <second@a.example>\r\n\r\nbody",
    HEAD + b"Message-ID: <caf\xc3\xa9@a.example>\r\n\r\nbody",  # 8-bit
    HEAD + b"Message-ID: <lone\rcr@a.example>\r\n\r\nbody",
    HEAD + b"X-Message-ID: <not-this@a.example>\r\n\r\nbody",
    HEAD + b"Subject: mentions\r\n Message-ID: <in-a-fold@a.example>\r\n\r\nbody",
    b"From sender@a.example Mon Jan  1 00:00:00 2026\r\nMessage-ID: <after-unixfrom@a.example>\r\n\r\nbody",
    b"Not a header line\r\nMessage-ID: <after-garbage@a.example>\r\n\r\nbody",
    b" continuation first\r\nMessage-ID: <x@a.example>\r\n\r\nbody",
    b"Message-ID: <lf-only@a.example>\nFrom: r@a.example\n\nbody",
    b"Message-ID: <no-body@a.example>\r\n",
    b"Message-ID : <space-before-colon@a.example>\r\n\r\nbody",
    b"\r\n\r\nMessage-ID: <in-body@a.example>\r\n",
    b"",
    HEAD + b"Message-ID: <" + b"x" * 600 + b"@a.example>\r\n\r\nbody",
]


@pytest.mark.parametrize("raw", EDGE_CASES)
def test_edge_cases_match_the_parser(raw: bytes) -> None:
    assert message_id_of(raw) == reference_message_id(raw)


def test_plain_header_block_does_not_run_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(head: bytes) -> None:
        raise AssertionError("the parser ran on a plain header block")

    monkeypatch.setattr(smtp_scan, "_parsed_message_id", fail)
    assert message_id_of(HEAD + b"Message-ID: <plain@a.example>\r\n\r\nbody") == "plain@a.example"
    assert message_id_of(HEAD + b"Subject: none here\r\n\r\nbody") is None


PATHS = [
    "<resident@mail.example>",
    "<resident@mail.example> SIZE=4000",
    "<resident@mail.example>  SIZE=4000 BODY=8BITMIME",
    "<first.last+tag@sub.mail.example>",
    "<o'brien@mail.example>\tSIZE=1",
    "<>",
    "<> SIZE=10",
    "<resident@mail.example> ",
    "<resident@mail.example>\n",
    "<resident@mail.example> SIZE=1\n",
    "<resident@mail.example>(comment) SIZE=1",
    "<resident@mail.example> (comment)",
    "<resident@mail.example>SIZE=1",
    '<"quoted local"@mail.example>',
    "<resident@[192.0.2.1]>",
    "<resident@mail.example.>",
    "<.resident@mail.example>",
    "<a..b@mail.example>",
    "<résident@mail.example>",
    "<@relay.example:resident@mail.example>",
    " <resident@mail.example>",
    "resident@mail.example",
    "resident@mail.example SIZE=1",
    "<resident@mail.example",
    "<resident>",
    "",
    "<" + "x" * 70 + "@mail.example>",
]


@pytest.mark.parametrize("limit", [0, 64])
@pytest.mark.parametrize("arg", PATHS)
def test_paths_read_as_aiosmtpd_reads_them(arg: str, limit: int) -> None:
    ours, theirs = IngestSMTP(handler=object()), SMTP(handler=object())
    ours.local_part_limit = theirs.local_part_limit = limit
    assert ours._getaddr(arg) == theirs._getaddr(arg)


def test_plain_path_does_not_run_the_header_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: SMTP, arg: str) -> None:
        raise AssertionError("the general parser ran on a plain path")

    monkeypatch.setattr(SMTP, "_getaddr", fail)
    plain = IngestSMTP(handler=object())._getaddr("<resident@mail.example> SIZE=1")
    assert plain == ("resident@mail.example", "SIZE=1")
