"""Every status a resident is told about has its own template, by email and by text, in English and Spanish; and a
city's template folder (`[replies] templates_dir`) overrides a shipped file of the same name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.app import build_services
from gateway.outbox import templates as templates_module
from gateway.outbox.compose import compose_email_reply
from gateway.outbox.sms_compose import compose_sms
from gateway.outbox.templates import build_templates, render
from gateway.settings import Settings
from gateway.staff.actions import NOTIFIED_STATUSES
from storage.models import Ticket

TICKET = Ticket(
    tracking_number="SR-2026-000042",
    public_token="tok",
    reply_token="rt",
    status="new",
    channel="email",
    summary="Pothole on Main St",
)
# One phrase per status and language that only that status's message carries.
SAYS = {
    ("acknowledged", "en"): "SR-2026-000042",
    ("resolved", "es"): "resuelto",
    ("resolved", "en"): "resolved",
    ("in_progress", "en"): "started",
    ("rejected", "es"): "no podemos atender",
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_each_status_has_its_own_email_and_text(settings: Settings, language: str) -> None:
    env = build_templates()
    emails, texts = {}, {}
    for status in NOTIFIED_STATUSES:
        _, payload = compose_email_reply(
            settings=settings,
            templates=env,
            ticket=TICKET,
            kind=f"status-{status}",
            to="jane@resident.example",
            parsed=None,
            language=language,
            public_note="Crew booked",
            unsubscribe_url="https://311.city.example/unsubscribe/x",
            surviving_number="SR-2026-000007",
        )
        emails[status] = payload["text"]
        sms = compose_sms(
            settings=settings,
            templates=env,
            kind=f"status-{status}",
            language=language,
            ticket=TICKET,
            public_note="Crew booked",
            surviving_number="SR-2026-000007",
        )
        texts[status] = sms["body"]
        for body in (emails[status], texts[status]):
            assert "SR-2026-000042" in body and "Crew booked" in body, (status, language, body)
        assert "https://311.city.example/unsubscribe/x" in emails[status]  # every automatic email can stop them
        phrase = SAYS.get((status, language))
        if phrase:
            assert phrase in emails[status].lower() or phrase in emails[status], (status, language)
    assert len(set(emails.values())) == len(NOTIFIED_STATUSES)  # six different messages, not one generic text
    assert len(set(texts.values())) == len(NOTIFIED_STATUSES)
    assert "SR-2026-000007" in emails["duplicate"] and "SR-2026-000007" in texts["duplicate"]


def test_a_city_folder_overrides_a_shipped_template(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "status-resolved.en.txt.j2").write_text(
        "Springfield Public Works fixed {{ tracking_number }}.\n", encoding="utf-8"
    )
    services = build_services(settings.replace(replies={"templates_dir": str(tmp_path)}))
    assert services.templates is not None
    _, resolved = compose_email_reply(
        settings=settings, templates=services.templates, ticket=TICKET, kind="status-resolved", to="a@b.example",
        parsed=None, language="en", public_note="", unsubscribe_url=None,
    )  # fmt: skip
    _, closed = compose_email_reply(
        settings=settings, templates=services.templates, ticket=TICKET, kind="status-closed", to="a@b.example",
        parsed=None, language="en", public_note="", unsubscribe_url=None,
    )  # fmt: skip
    assert resolved["text"] == "Springfield Public Works fixed SR-2026-000042.\n"
    assert "Springfield" not in closed["text"] and "SR-2026-000042" in closed["text"]  # the rest stay shipped


def test_an_edited_city_template_is_used_at_its_recheck(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Edits show without a restart, and the file is not looked at again on every reply before then."""
    clock = [1000.0]
    monkeypatch.setattr(templates_module.time, "monotonic", lambda: clock[0])
    (tmp_path / "email").mkdir()
    path = tmp_path / "email" / "note.en.txt.j2"
    path.write_text("first {{ n }}\n", encoding="utf-8")
    env = build_templates(str(tmp_path))
    assert render(env, "email", "note", "en", n=1) == "first 1\n"
    path.write_text("second {{ n }}\n", encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))  # (a file system's coarse clock)
    clock[0] += templates_module.RECHECK_SECONDS / 2
    assert render(env, "email", "note", "en", n=2) == "first 2\n"  # not looked at yet
    clock[0] += templates_module.RECHECK_SECONDS
    assert render(env, "email", "note", "en", n=3) == "second 3\n"
