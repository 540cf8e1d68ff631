"""Bounce detection measured against Sisimai's published expectations for ~80 kinds of mail servers.

Sisimai's reason names are ours without hyphens (user-unknown = userunknown). "vacation" entries are auto-replies
and "feedback" entries are abuse reports: neither may be taken for a bounce.
"""

from __future__ import annotations

from collections import Counter

import pytest

from parsers.bounce_reasons import classify_failure
from parsers.email import parse_email
from tests.parsers.email_fixtures import EMAIL, load_expected, read_bytes

SISIMAI = load_expected("sisimai_bounces")["expected"]


def test_sisimai_bounces_are_detected_with_their_severity() -> None:
    tally: Counter[str] = Counter()
    for file, recipients in sorted(SISIMAI.items()):
        parsed = parse_email(read_bytes("sisimai_bounces", f"bounces/{file}"))
        reasons = {item["reason"] for item in recipients}
        if reasons & {"vacation", "feedback", "delivered"}:
            tally["not-a-bounce"] += 1
            tally["not-a-bounce-ok"] += parsed.bounce is None
            continue
        tally["bounces"] += 1
        if parsed.bounce is None:
            continue
        tally["detected"] += 1
        hard = any(item["hard_bounce"] for item in recipients)
        tally["severity-ok"] += parsed.bounce.hard == hard
        tally["false-hard"] += parsed.bounce.hard and not hard
        tally["reason-ok"] += parsed.bounce.reason.replace("-", "") in reasons
        tally["recipient"] += parsed.bounce.recipient is not None
        tally["original-id"] += parsed.bounce.original_message_id is not None
    detected = tally["detected"]
    print()
    print(f"sisimai bounces detected      {detected}/{tally['bounces']} = {detected / tally['bounces']:.1%}")
    for key in ("severity-ok", "reason-ok", "recipient", "original-id", "false-hard"):
        print(f"  {key:27} {tally[key]}/{detected} = {tally[key] / detected:.1%}")
    print(f"  not bounces left alone      {tally['not-a-bounce-ok']}/{tally['not-a-bounce']}")
    assert detected / tally["bounces"] >= 0.95
    assert tally["severity-ok"] / detected >= 0.80
    assert tally["not-a-bounce-ok"] == tally["not-a-bounce"]


@pytest.mark.parametrize("file", sorted(path.name for path in (EMAIL / "sisimai_bounces" / "not_bounces").iterdir()))
def test_look_alikes_are_not_bounces(file: str) -> None:
    assert parse_email(read_bytes("sisimai_bounces", f"not_bounces/{file}")).bounce is None


def test_a_standard_dsn_names_the_message_and_recipient() -> None:
    parsed = parse_email(read_bytes("flanker", "messages/bounce/office365.eml"))
    assert parsed.bounce is not None
    assert parsed.bounce.recipient == "noname@example.com"
    assert parsed.bounce.hard and parsed.bounce.reason == "user-unknown"
    assert parsed.bounce.original_message_id and "<" not in parsed.bounce.original_message_id


def test_a_delayed_dsn_is_a_soft_bounce() -> None:
    parsed = parse_email(read_bytes("flanker", "messages/bounce/no-mx.eml"))
    assert parsed.bounce is not None and not parsed.bounce.hard


def test_qmail_notice_without_dsn() -> None:
    parsed = parse_email(read_bytes("sisimai_bounces", "bounces/lhost-qmail-01.eml"))
    assert parsed.bounce is not None
    assert parsed.bounce.recipient == "kijitora@example.ne.jp"
    assert parsed.bounce.original_message_id == "000000000.9999999999999.JavaMail.postmaster@mailhub"
    assert parsed.bounce.hard and parsed.bounce.reason == "user-unknown"


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "hard"),
    [
        ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "user-unknown", True),
        ("5.2.2", "552 5.2.2 Mailbox full", "mailbox-full", False),
        ("5.0.0", "550 Host or domain name not found", "host-unknown", True),
        ("4.4.7", "Delivery time expired", "expired", False),
        ("5.7.26", "550 5.7.26 Recipient address rejected: Multiple authentication checks failed", "auth-failure",
         False),
        ("5.7.1", "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org", "blocked", False),
        (None, "552 message size exceeds maximum", "mesg-too-big", False),
    ],
)  # fmt: skip
def test_failure_reasons(status: str | None, diagnostic: str, reason: str, hard: bool) -> None:
    assert classify_failure(status, diagnostic) == (reason, hard)
