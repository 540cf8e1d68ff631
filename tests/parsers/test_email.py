"""parse_email as the pipeline sees it: every field filled, one exception family (its speed: bench/parse_email.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parsers.email import EmailParseError, parse_email
from parsers.types import Channel
from tests.parsers.email_fixtures import read_bytes

REPORT_BODY = ("There is a large pothole in front of 123 Main Street near the corner of Elm Avenue. " * 4 + "\n") * 12
TYPICAL_REPORT = (
    "Return-Path: <jane@example.org>\r\n"
    "Received: from mail.example.org (mail.example.org [203.0.113.5]) by mx.city.example with ESMTPS id abc123\r\n"
    "\tfor <reports@city.example>; Mon, 05 Jan 2026 10:00:00 -0500\r\n"
    "Authentication-Results: mx.city.example; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org;"
    " dmarc=pass header.from=example.org\r\n"
    "From: Jane Resident <Jane@Example.org>\r\n"
    "To: Reports <reports+t0k3n@city.example>\r\n"
    "Cc: neighbour@example.org\r\n"
    "Subject: =?utf-8?q?Pothole_on_Main_Street_=E2=80=93_again?=\r\n"
    "Date: Mon, 05 Jan 2026 09:59:58 -0500\r\n"
    "Message-ID: <CAF=abc123@mail.example.org>\r\n"
    "In-Reply-To: <ack-1@city.example>\r\n"
    "References: <report-0@mail.example.org>\r\n <ack-1@city.example>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="UTF-8"\r\n'
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n" + REPORT_BODY.replace("\n", "\r\n") + "\r\nThanks,\r\nJane\r\n"
).encode()


def test_every_field_of_a_typical_report() -> None:
    parsed = parse_email(TYPICAL_REPORT)
    assert parsed.channel is Channel.EMAIL
    assert (parsed.sender, parsed.sender_name) == ("jane@example.org", "Jane Resident")
    assert parsed.subject == "Pothole on Main Street – again"
    assert parsed.message_id == "CAF=abc123@mail.example.org"
    assert parsed.in_reply_to == "ack-1@city.example"
    assert parsed.references == ("report-0@mail.example.org", "ack-1@city.example")
    assert parsed.recipients == ("reports+t0k3n@city.example", "neighbour@example.org")
    assert parsed.sent_at is not None and parsed.sent_at.utcoffset() == timedelta(hours=-5)
    assert parsed.body_text.startswith("There is a large pothole") and parsed.body_text.endswith("Thanks,\nJane")
    assert parsed.body_new == parsed.body_text
    assert parsed.body_html is None and parsed.attachments == () and parsed.bounce is None
    assert parsed.auto_submitted is None
    assert parsed.auth is not None and parsed.auth.dmarc == "pass"
    assert parsed.language == "en"


def test_a_reply_keeps_the_full_body_and_strips_the_new_one() -> None:
    parsed = parse_email(read_bytes("talon", "standard_replies/gmail.eml"))
    assert parsed.body_new == "Hello"
    assert "> Hi" in parsed.body_text
    assert parsed.body_html is not None and "gmail_quote" not in parsed.body_html  # classes are stripped


def test_spanish_reply_gets_its_language() -> None:
    raw = (
        "From: ana@example.org\r\nSubject: Re: Bache\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "El bache de la calle Mayor sigue ahí y es muy peligroso para las bicicletas.\r\n\r\n"
        "El lun, 5 ene 2026 a las 10:00, Reports <reports@city.example> escribió:\r\n> Thank you for your report.\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.language == "es"
    assert parsed.body_new == "El bache de la calle Mayor sigue ahí y es muy peligroso para las bicicletas."


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"  \r\n\t ", "empty"),
        (b"\x00\x01\x02\xff\xfe binary junk", "not-a-message"),
        (b'{"json": "payload"}', "not-a-message"),
        (b"<html><body>a web page</body></html>", "not-a-message"),
    ],
)
def test_what_cannot_be_a_message_raises_one_error_family(raw: bytes, reason: str) -> None:
    with pytest.raises(EmailParseError) as caught:
        parse_email(raw)
    assert caught.value.reason_code == reason


def test_non_bytes_input_is_refused_with_the_same_family() -> None:
    with pytest.raises(EmailParseError) as caught:
        parse_email("From: a@b\r\n\r\nx")  # type: ignore[arg-type]
    assert caught.value.reason_code == "not-bytes"


def test_malformed_headers_still_parse() -> None:
    raw = (
        b"From: \r\nTo: ,,,@@@\r\nSubject: =?bogus?Q?broken=ZZ?=\r\nDate: not a date\r\n"
        b"Message-ID: no brackets\r\n\r\nBody"
    )
    parsed = parse_email(raw)
    assert parsed.sender == "" and parsed.auto_submitted == "null-sender"
    assert parsed.sent_at is None and "bad-date" in parsed.defects
    assert parsed.message_id is None  # "no brackets" is not an id
    assert parsed.body_text == "Body"


def test_missing_boundary_and_html_only_mail() -> None:
    parsed = parse_email(read_bytes("flanker", "messages/missing-boundaries.eml"))
    assert parsed.body_text or parsed.attachments
    html_only = parse_email(read_bytes("talon", "standard_replies/outlook.eml").replace(b"text/plain", b"text/x-old"))
    assert "Hello" in html_only.body_text


def test_one_damaged_header_line_does_not_swallow_the_rest() -> None:
    raw = b"From old@example.org Mon Jan  5 10:00:00 2026\nSubject: hi\nFr\x00m: x\nTo: a@b.example\n\nbody"
    parsed = parse_email(raw)
    assert parsed.subject == "hi" and parsed.recipients == ("a@b.example",) and parsed.body_text == "body"
    assert {"mbox-from-line", "damaged-header-lines"} <= set(parsed.defects)
