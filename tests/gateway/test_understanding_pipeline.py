"""Understanding at work on real mail: the question an acknowledgement asks, the answer filling the ticket, and
duplicates linked to the open ticket with the reporter told its number. Real SMTP in and out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Inbox311, build_services
from gateway.outbox.sms_compose import compose_sms
from gateway.outbox.templates import build_templates
from gateway.settings import ConfigError, Settings
from gateway.signing import load_signer
from gateway.staff.actions import Actor, StaffContext, change_status
from gateway.understanding import question_text
from storage.models import Ticket, TicketStatus
from storage.staff import create_staff_user
from storage.tickets import list_events, list_tickets
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink

STREETS = Path(__file__).resolve().parents[2] / "parsers" / "streets_sample.csv"


@pytest.fixture
async def city(settings: Settings, db_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    svc = Inbox311(service_settings(settings, db_url, sink.port, geocoder={"streets_file": str(STREETS)}))
    await svc.start()
    yield svc
    await svc.stop()


async def send(svc: Inbox311, msg: Message) -> None:
    host, port = svc.smtp_address
    await aiosmtplib.send(msg, hostname=host, port=port)
    await svc.worker.drain()


async def tickets(svc: Inbox311) -> list[Ticket]:
    async with svc.db.read() as session:
        return sorted(await list_tickets(session=session), key=lambda t: t.id or 0)


async def events(svc: Inbox311, ticket_id: int | None) -> list[tuple[str, dict]]:
    assert ticket_id is not None
    async with svc.db.read() as session:
        return [(e.action, e.data) for e in await list_events(session=session, ticket_id=ticket_id)]


def body(msg: Message) -> str:
    return msg.get_payload(decode=True).decode()


def reply_to(ack: Message, text: str, n: int) -> Message:
    follow = report(subject="Re: " + ack["Subject"], body=text, message_id=f"<answer{n}@resident.example>")
    follow["In-Reply-To"] = ack["Message-ID"]
    return follow


async def test_no_location_asks_where_and_the_answer_fills_the_ticket(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(subject="Street light", body="The street light has been out for a week, very dark."))
    [ack] = await sink.handler.wait_for(1)
    assert "Where is it? Reply with an address or the nearest cross streets." in body(ack)
    [t] = await tickets(city)
    assert t.category == "street-light" and t.address is None and t.lat is None
    asked = [d for a, d in await events(city, t.id) if a == "question-asked"]
    assert asked == [{"field": "location", "question": asked[0]["question"], "channel": "email"}]

    await send(city, reply_to(ack, "Thanks. It is useless to me.", 1))  # no place in it: nothing filled, no new ask
    await send(city, reply_to(ack, "Clark and Belmont", 2))
    _, receipt = await sink.handler.wait_for(2)
    assert "Where is it" not in body(receipt)  # one question per field, only in the acknowledgement
    [t] = await tickets(city)  # the answer filled the ticket instead of becoming a new one
    assert t.address == "Clark & Belmont" and t.location_source == "intersection"
    assert t.lat == pytest.approx(41.9398, abs=0.001) and t.lon == pytest.approx(-87.6495, abs=0.001)
    answered = [d for a, d in await events(city, t.id) if a == "question-answered"]
    assert len(answered) == 1
    assert answered[0]["field"] == "location" and answered[0]["answer"] == "Clark and Belmont"


async def test_no_category_asks_what_and_the_answer_categorises(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(subject="Hello", body="Something at 1420 W Addison St needs a look, please."))
    [ack] = await sink.handler.wait_for(1)
    [t] = await tickets(city)
    assert t.category == "uncategorised" and t.category_decided_by == "triage"
    assert t.lat is not None  # the address was geocoded from the street list
    assert "What is the problem?" in body(ack) and "Where is it" not in body(ack)

    await send(city, reply_to(ack, "A huge pothole, almost lost a tire", 1))
    [t] = await tickets(city)
    assert (t.category, t.category_decided_by, t.department) == ("pothole", "pothole", "streets")
    [(field, category)] = [(d["field"], d["category"]) for a, d in await events(city, t.id) if a == "question-answered"]
    assert (field, category) == ("category", "pothole")


async def test_a_report_with_place_and_category_asks_nothing(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(body="Huge pothole in front of 1420 W Addison St, almost lost a tire."))
    [ack] = await sink.handler.wait_for(1)
    assert "Where is it" not in body(ack) and "What is the problem" not in body(ack)
    [t] = await tickets(city)
    assert "question-asked" not in [a for a, _ in await events(city, t.id)]


async def test_same_pothole_twice_is_linked_and_the_reporter_told(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(body="Huge pothole in front of 1420 W Addison St, almost lost a tire."))
    second = report(
        subject="pothole",
        body="There is a deep pothole at 1424 W Addison St.",
        message_id="<r2@other.example>",
        sender="Sam Other <sam@other.example>",
    )
    await send(city, second)
    _, ack2 = await sink.handler.wait_for(2)
    first, dup = await tickets(city)
    assert dup.duplicate_of_id == first.id and dup.status == TicketStatus.DUPLICATE
    assert first.status == TicketStatus.ACKNOWLEDGED and first.duplicate_of_id is None
    assert ack2["To"] == "sam@other.example" and first.tracking_number in body(ack2)
    on_dup = await events(city, dup.id)
    # the timeline reads: linked, acknowledged, then a duplicate (the status itself is written once, with the link)
    assert [a for a, _ in on_dup if a in ("duplicate-linked", "acknowledged", "status-changed")] == [
        "duplicate-linked", "acknowledged", "status-changed"]  # fmt: skip
    assert next(d for a, d in on_dup if a == "status-changed")["to"] == TicketStatus.DUPLICATE
    linked = [d for a, d in on_dup if a == "duplicate-linked"]
    assert linked[0]["of"] == first.tracking_number and linked[0]["reason"] == "distance"
    assert linked[0]["distance_m"] < 50
    on_first = [a for a, _ in await events(city, first.id)]
    assert "duplicate-reported" in on_first and "subscribed" in on_first  # the second reporter gets its updates


async def test_other_category_or_far_away_is_not_linked(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(body="Huge pothole in front of 1420 W Addison St, almost lost a tire."))
    await send(city, report(body="Graffiti on the wall at 1420 W Addison St.", message_id="<r2@resident.example>"))
    await send(city, report(body="Pothole in front of 3500 N Clark St.", message_id="<r3@resident.example>"))
    assert [t.duplicate_of_id for t in await tickets(city)] == [None, None, None]


async def test_staff_unlink_a_duplicate_by_reopening_it(city: Inbox311, sink: SmtpSink) -> None:
    await send(city, report(body="Huge pothole in front of 1420 W Addison St, almost lost a tire."))
    await send(city, report(body="Pothole at 1424 W Addison St.", message_id="<r2@resident.example>"))
    first, dup = await tickets(city)
    assert dup.duplicate_of_id == first.id and dup.id is not None
    async with city.db.write() as session:
        signer = await load_signer(session=session, settings=city.settings)
        crew = await create_staff_user(session=session, email="crew@city.example", password_hash="x", role="agent")
    staff = StaffContext(db=city.db, services=city.services, signer=signer)
    assert await change_status(staff, Actor(id=crew.id or 0, email=crew.email), [dup.id], "acknowledged") == 1
    _, again = await tickets(city)
    assert again.duplicate_of_id is None and again.status == TicketStatus.ACKNOWLEDGED


def test_sms_acknowledgement_keeps_the_question_within_two_segments(settings: Settings) -> None:
    summary = "The light has been out for a week, it is very dark at night " * 2
    ticket = Ticket(id=1, tracking_number="SR-2026-000042", public_token="t", reply_token="r", summary=summary)
    templates = build_templates()
    question = question_text("location", "en")
    payload = compose_sms(settings=settings, templates=templates, kind="ack", language="en", ticket=ticket,
                          max_segments=2, question=question, duplicate_of=None)  # fmt: skip
    assert payload["segments"] <= 2 and question in payload["body"] and "SR-2026-000042" in payload["body"]
    pregunta = question_text("location", "es-US")
    spanish = compose_sms(settings=settings, templates=templates, kind="ack", language="es", ticket=ticket,
                          max_segments=3, question=pregunta, duplicate_of="SR-2026-000001")  # fmt: skip
    assert "las calles que se cruzan" in spanish["body"] and "open report" not in spanish["body"]
    assert "reporte abierto SR-2026-000001" in spanish["body"]


def test_a_bad_rule_stops_the_start_naming_the_rule(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "city-rules.toml"
    bad.write_text('[categories.pothole]\n[[rule]]\nname = "holes"\ncategory = "pothole"\nwhen.regex = ["(pot"]\n')
    with pytest.raises(ConfigError, match=r"rule 'holes': when\.regex: bad regex"):
        build_services(settings.replace(rules={"file": str(bad)}))
    unknown = tmp_path / "unknown-key.toml"
    unknown.write_text('[categories.pothole]\n[[rule]]\nname = "typo"\ncategory = "pothole"\nwhen.keywrd_any = ["x"]\n')
    with pytest.raises(ConfigError, match="rule 'typo'"):
        build_services(settings.replace(rules={"file": str(unknown)}))
