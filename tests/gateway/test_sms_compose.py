"""Outgoing texts written to fit: the resident's words are shortened before our instructions, the link never."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from gateway.outbox.sms_compose import compose_sms
from gateway.outbox.templates import build_templates
from gateway.pipeline import Services, StageContext, WorkItem
from gateway.settings import Settings
from gateway.sms_channel import enrich_sms, parse_stored_form
from parsers.segments import count_segments
from parsers.types import Channel
from storage.models import Ticket

TEMPLATES = build_templates()


def _ticket(summary: str, status: str = "acknowledged") -> Ticket:
    return Ticket(id=1, tracking_number="SR-2026-000042", public_token="Zx3_vQ9-kLmN0pQrStUvWx", reply_token="r",
                  channel="sms", summary=summary, status=status)  # fmt: skip


LINK = "http://311.city.example/track/SR-2026-000042?t=Zx3_vQ9-kLmN0pQrStUvWx"


def test_short_ack_is_sent_as_written(settings: Settings) -> None:
    payload = compose_sms(settings=settings, templates=TEMPLATES, kind="ack", language="en",
                          ticket=_ticket("Pothole on Main"), max_segments=2)  # fmt: skip
    assert payload["body"].startswith('City 311: we got your report "Pothole on Main".')
    assert LINK in payload["body"] and "Reply STOP to opt out." in payload["body"]
    assert (payload["segments"], payload["encoding"]) == (count_segments(payload["body"]).segments, "GSM-7")


def test_long_report_is_shortened_not_the_instructions(settings: Settings) -> None:
    summary = "There is a pothole " + "that keeps getting deeper " * 12
    payload = compose_sms(settings=settings, templates=TEMPLATES, kind="ack", language="en",
                          ticket=_ticket(summary), max_segments=2)  # fmt: skip
    body = payload["body"]
    assert payload["segments"] == 2 and LINK in body and body.endswith("Reply STOP to opt out.")
    assert 'report "There is a pothole that keeps' in body and '..."' in body


def test_one_emoji_does_not_halve_the_room(settings: Settings) -> None:
    summary = "Tree down 🌳 blocking the road " * 3
    payload = compose_sms(settings=settings, templates=TEMPLATES, kind="ack", language="en",
                          ticket=_ticket(summary), max_segments=2)  # fmt: skip
    assert payload["segments"] <= 2 and LINK in payload["body"]


def test_spanish_ack_keeps_to_two_segments(settings: Settings) -> None:
    payload = compose_sms(settings=settings, templates=TEMPLATES, kind="ack", language="es",
                          ticket=_ticket("Hay un bache enorme en la calle"), max_segments=2)  # fmt: skip
    assert payload["segments"] <= 2 and LINK in payload["body"] and "PARAR" in payload["body"]


@pytest.mark.parametrize(("status", "label"), [("in_progress", "in progress"), ("resolved", "resolved")])
def test_status_reply_names_the_status(settings: Settings, status: str, label: str) -> None:
    payload = compose_sms(settings=settings, templates=TEMPLATES, kind="status-reply", language="en",
                          ticket=_ticket("Pothole on Main", status))  # fmt: skip
    assert f"is {label}." in payload["body"] and LINK in payload["body"]


def test_a_city_may_write_its_own_help_text(settings: Settings) -> None:
    own = settings.replace(twilio={"help_text": "Springfield 311: text us the problem. Call 311 for emergencies."})
    payload = compose_sms(settings=own, templates=TEMPLATES, kind="help", language="es")
    assert payload["body"] == "Springfield 311: text us the problem. Call 311 for emergencies."


async def test_sender_is_read_in_the_configured_region(settings: Settings) -> None:
    form = {"MessageSid": "SM" + "1" * 32, "From": "55 1234 5678", "To": "+13125550199", "Body": "Bache"}
    raw = urlencode(form).encode()
    item = WorkItem(raw_id=1, channel=Channel.SMS, source="twilio", raw=raw, received_at=datetime.now(UTC),
                    parsed=parse_stored_form(raw))  # fmt: skip
    assert item.parsed is not None and item.parsed.sender == ""
    ctx = StageContext(services=Services(settings=settings.replace(twilio={"default_region": "MX"})))
    await enrich_sms(item, ctx)
    assert item.parsed.sender == "+525512345678" and "sender-not-a-phone-number" not in item.parsed.defects
