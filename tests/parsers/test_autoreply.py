"""Machine-made mail is recognised, with a stable reason, from headers (RFC 3834, Microsoft) and senders."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from parsers.email import parse_email
from tests.parsers.email_fixtures import EMAIL, read_bytes


def _message(headers: dict[str, str], sender: str = "Jane <jane@example.org>", subject: str = "Pothole") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "reports@city.example"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name] = value
    message.set_content("The pothole on Main Street is back.")
    return bytes(message)


@pytest.mark.parametrize(
    ("headers", "sender", "subject", "reason"),
    [
        ({}, "Jane <jane@example.org>", "Pothole", None),
        ({"Auto-Submitted": "no"}, "Jane <jane@example.org>", "Pothole", None),
        ({"Auto-Submitted": "auto-replied"}, "jane@example.org", "Re: Pothole", "out-of-office"),
        ({"Auto-Submitted": "auto-generated"}, "alerts@example.org", "Weekly report", "auto-submitted"),
        ({"Auto-Submitted": "auto-notified; owner-email=x@example.org"}, "a@example.org", "x", "auto-submitted"),
        ({"X-Autoreply": "yes"}, "jane@example.org", "Re: Pothole", "out-of-office"),
        ({"X-Autorespond": "yes"}, "jane@example.org", "Re: Pothole", "out-of-office"),
        ({}, "jane@example.org", "Automatic reply: Pothole", "out-of-office"),
        ({}, "jane@example.org", "Out of Office: Pothole", "out-of-office"),
        ({}, "jane@example.org", "Abwesenheitsnotiz: Schlagloch", "out-of-office"),
        ({}, "jane@example.org", "Respuesta automática: Bache", "out-of-office"),
        ({}, "jane@example.org", "Réponse automatique : Nid de poule", "out-of-office"),
        ({}, "jane@example.org", "Resposta automática: Buraco", "out-of-office"),
        ({}, "jane@example.org", "自动回复: 坑洼", "out-of-office"),
        ({}, "jane@example.org", "Absence of street lights on Elm", None),
        ({"X-Auto-Response-Suppress": "All"}, "jane@example.org", "Pothole", "auto-response-suppress"),
        ({"Precedence": "bulk"}, "news@example.org", "News", "precedence-bulk"),
        ({"Precedence": "junk"}, "news@example.org", "News", "precedence-junk"),
        ({"Precedence": "list"}, "news@example.org", "News", "precedence-list"),
        ({"Precedence": "first-class"}, "jane@example.org", "Pothole", None),
        ({"List-Id": "<residents.lists.example.org>"}, "jane@example.org", "Pothole", "list"),
        ({"List-Unsubscribe": "<mailto:leave@example.org>"}, "shop@example.org", "Sale", "list"),
        ({"Return-Path": "<>"}, "jane@example.org", "Pothole", "null-sender"),
        ({}, "MAILER-DAEMON@mx.example.org", "Hello", "daemon-sender"),
        ({}, "postmaster@example.org", "Hello", "daemon-sender"),
        ({}, "noreply@example.org", "Your order", "noreply-sender"),
        ({}, "no-reply@accounts.example.org", "Your order", "noreply-sender"),
        ({}, "do-not-reply@example.org", "Your order", "noreply-sender"),
    ],
)
def test_auto_submitted_reasons(headers: dict[str, str], sender: str, subject: str, reason: str | None) -> None:
    assert parse_email(_message(headers, sender, subject)).auto_submitted == reason


@pytest.mark.parametrize("file", sorted(p.name for p in (EMAIL / "sisimai_bounces" / "bounces").glob("rfc3834-*")))
def test_real_vacation_replies_are_out_of_office(file: str) -> None:
    parsed = parse_email(read_bytes("sisimai_bounces", f"bounces/{file}"))
    assert parsed.auto_submitted == "out-of-office"
    assert parsed.bounce is None


@pytest.mark.parametrize("file", ["arf-01.eml", "arf-02.eml", "arf-11.eml"])
def test_abuse_reports_are_feedback(file: str) -> None:
    parsed = parse_email(read_bytes("sisimai_bounces", f"bounces/{file}"))
    assert parsed.auto_submitted == "feedback-report"
    assert parsed.bounce is None
