"""Texts through the whole pipeline: one ticket per conversation, tracking numbers, keywords, status questions.

Signed webhooks go into a running service; outbound texts are inspected in the outbox (no sender runs here; the
integration test sends them through the real twilio client).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from gateway.app import Inbox311
from gateway.settings import Settings
from parsers.segments import count_segments
from storage.models import Contact, Event, Message, Outbox, OutboxState, RawInbound, Ticket, TicketStatus, utcnow
from storage.outbox import enqueue_outbox
from storage.sms import subscribe_to_ticket
from storage.tickets import list_messages
from tests.twilio_support import NEIGHBOUR, RESIDENT, SMS_PATH, inbound, post_signed, sms_settings


@pytest.fixture
async def service(settings: Settings, db_url: str) -> AsyncIterator[Inbox311]:
    svc = Inbox311(sms_settings(settings, db_url), senders=[])
    await svc.start()
    yield svc
    await svc.stop()


async def text(service: Inbox311, body: str, *, sender: str = RESIDENT, **fields: str) -> None:
    host, port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        response = await post_signed(client, SMS_PATH, inbound(body, sender=sender, **fields))
    assert response.status_code == 200
    await service.worker.drain()


async def tickets(service: Inbox311) -> list[Ticket]:
    async with service.db.read() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())


async def texts_out(service: Inbox311, recipient: str = RESIDENT) -> list[Outbox]:
    async with service.db.read() as session:
        found = await session.execute(
            select(Outbox).where(Outbox.channel == "sms", Outbox.recipient == recipient).order_by(Outbox.id)
        )
        return list(found.scalars())


async def events(service: Inbox311, action: str) -> list[Event]:
    async with service.db.read() as session:
        return list((await session.execute(select(Event).where(Event.action == action))).scalars())


async def age_conversation(service: Inbox311, minutes: int) -> None:
    """Make everything said so far `minutes` older, as if that much time had passed."""
    then = utcnow() - timedelta(minutes=minutes)
    async with service.db.write() as session:
        await session.execute(update(Message).values(created_at=then))
        await session.execute(update(Outbox).values(created_at=then))


async def test_a_conversation_is_one_ticket_with_one_acknowledgement(service: Inbox311) -> None:
    await text(service, "Pothole in front of 1420 W Addison")
    await text(service, "it's big, a car lost a hubcap")
    [ticket] = await tickets(service)
    assert ticket.channel == "sms" and ticket.status == TicketStatus.ACKNOWLEDGED
    assert ticket.summary == "Pothole in front of 1420 W Addison"
    async with service.db.read() as session:
        messages = await list_messages(session=session, ticket_id=ticket.id)
    assert [m.body for m in messages] == ["Pothole in front of 1420 W Addison", "it's big, a car lost a hubcap"]
    assert not any(m.flagged for m in messages)
    [ack] = await texts_out(service)  # the second text got no receipt: the conversation is one exchange
    assert ack.kind == "ack" and ack.state == OutboxState.PENDING
    body = ack.payload["body"]
    assert ticket.tracking_number in body
    assert f"http://311.city.example/track/{ticket.tracking_number}?t={ticket.public_token}" in body
    assert ack.payload["segments"] == count_segments(body).segments <= 2
    [suppressed] = await events(service, "receipt-suppressed")
    assert suppressed.data["reason"] == "sms-conversation"


async def test_after_the_window_a_text_starts_a_new_ticket(service: Inbox311) -> None:
    await text(service, "Streetlight out on Clark")
    await age_conversation(service, 31)
    await text(service, "Graffiti on the viaduct at Belmont")
    first, second = await tickets(service)
    assert first.id != second.id and second.summary == "Graffiti on the viaduct at Belmont"
    assert [o.kind for o in await texts_out(service)] == ["ack", "ack"]


async def test_our_last_text_also_keeps_the_window_open(service: Inbox311) -> None:
    await text(service, "Tree branch on the sidewalk")
    async with service.db.write() as session:  # the resident's text is old, our acknowledgement recent
        await session.execute(update(Message).values(created_at=utcnow() - timedelta(minutes=45)))
    await text(service, "it is blocking the whole path")
    assert len(await tickets(service)) == 1


async def test_a_closed_ticket_is_not_continued_by_the_window(service: Inbox311) -> None:
    await text(service, "Water leaking from a hydrant")
    async with service.db.write() as session:
        await session.execute(update(Ticket).values(status=TicketStatus.CLOSED, closed_at=utcnow()))
    await text(service, "Another hydrant leaking on Halsted")
    assert len(await tickets(service)) == 2


async def test_a_text_with_the_tracking_number_lands_on_its_ticket(service: Inbox311) -> None:
    await text(service, "Abandoned car on Fullerton for two weeks")
    [ticket] = await tickets(service)
    await age_conversation(service, 120)
    await text(service, f"About {ticket.tracking_number}: it has no plates now")
    await text(service, f"I see the car too, {ticket.tracking_number.lower()}", sender=NEIGHBOUR)
    assert len(await tickets(service)) == 1
    async with service.db.read() as session:
        messages = await list_messages(session=session, ticket_id=ticket.id)
    assert [(m.body.split(":")[0], m.flagged) for m in messages] == [
        ("Abandoned car on Fullerton for two weeks", False),
        (f"About {ticket.tracking_number}", False),
        (f"I see the car too, {ticket.tracking_number.lower()}", True),  # not the reporter: staff should look
    ]
    receipts = [o for o in await texts_out(service) if o.kind == "receipt"]
    assert len(receipts) == 1 and ticket.tracking_number in receipts[0].payload["body"]
    assert await texts_out(service, NEIGHBOUR) == []  # the link with the ticket's token goes to its own people only
    [not_theirs] = await events(service, "receipt-suppressed")
    assert not_theirs.data["reason"] == "not-the-reporter"


async def test_stop_opts_out_and_nothing_more_is_queued(service: Inbox311) -> None:
    await text(service, "Rats in the alley behind 2200 N Lincoln")
    async with service.db.write() as session:  # something still waiting to go out when STOP arrives
        await enqueue_outbox(session=session, channel="sms", kind="status", recipient=RESIDENT, payload={"body": "x"})
    await text(service, " Stop ")
    await text(service, "STOP")  # one confirmation only
    async with service.db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.address == RESIDENT))).scalar_one()
        raw = (await session.execute(select(RawInbound).order_by(RawInbound.id.desc()))).scalars().first()
    assert contact.opted_out
    assert raw is not None and raw.state == "done" and raw.ticket_id is None  # a keyword makes no ticket
    out = await texts_out(service)
    assert [(o.kind, o.state) for o in out] == [
        ("ack", OutboxState.SUPPRESSED), ("status", OutboxState.SUPPRESSED), ("stop", OutboxState.PENDING)
    ]  # fmt: skip
    assert "START" in out[-1].payload["body"]
    assert [e.data["keyword"] for e in await events(service, "opted-out")] == ["stop", "stop"]  # both on record

    await age_conversation(service, 60)
    await text(service, "Another rat nest by the garage")  # a ticket may still be made ...
    assert len(await tickets(service)) == 2
    assert len(await texts_out(service)) == 3  # ... but nothing more is texted
    [suppressed] = await events(service, "ack-suppressed")
    assert suppressed.data["reason"] == "opted-out"

    await text(service, "START")
    await text(service, "help")
    kinds = [o.kind for o in await texts_out(service)]
    assert kinds[-2:] == ["start", "help"]
    async with service.db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.address == RESIDENT))).scalar_one()
    assert not contact.opted_out


async def test_spanish_keywords_are_answered_in_spanish(service: Inbox311) -> None:
    await text(service, "PARAR")
    await text(service, "Ayuda")
    stop, help_ = await texts_out(service)
    assert (stop.kind, help_.kind) == ("stop", "help")
    assert "COMENZAR" in stop.payload["body"] and "PARAR" in help_.payload["body"]
    assert len(await tickets(service)) == 0


async def test_spanish_report_gets_a_spanish_ack_that_fits(service: Inbox311) -> None:
    await text(service, "Hay un bache muy grande en la calle frente a la escuela, por favor arreglenlo " * 3)
    [ack] = await texts_out(service)
    assert "Su número de seguimiento" in ack.payload["body"] or "Su numero de seguimiento" in ack.payload["body"]
    assert ack.payload["segments"] <= 2


async def test_status_is_answered_only_to_the_reporter(service: Inbox311) -> None:
    await text(service, "Broken traffic signal at Ashland and Division")
    [ticket] = await tickets(service)
    await text(service, f"STATUS {ticket.tracking_number}")
    await text(service, "status")
    await text(service, f"STATUS {ticket.tracking_number}", sender=NEIGHBOUR)
    await text(service, "STATUS SR-2020-999999", sender=NEIGHBOUR)
    mine = [o for o in await texts_out(service) if o.kind != "ack"]
    theirs = await texts_out(service, NEIGHBOUR)
    assert [o.kind for o in mine] == ["status-reply", "status-reply"]
    assert all(ticket.tracking_number in o.payload["body"] and "received" in o.payload["body"] for o in mine)
    assert [o.kind for o in theirs] == ["status-unknown", "status-unknown"]
    assert ticket.tracking_number in theirs[0].payload["body"]
    assert "Ashland" not in theirs[0].payload["body"] and "received" not in theirs[0].payload["body"]
    assert theirs[0].payload["body"].replace(ticket.tracking_number, "#") == theirs[1].payload["body"].replace(
        "SR-2020-999999", "#"
    )  # the same answer whether or not the number exists
    assert len(await tickets(service)) == 1  # questions make no tickets
    assert len(await events(service, "status-requested")) == 2


async def test_a_subscribed_number_may_ask_for_the_status(service: Inbox311) -> None:
    await text(service, "Sidewalk slab lifted by a tree root")
    [ticket] = await tickets(service)
    await text(service, "hello", sender=NEIGHBOUR)  # makes the neighbour a contact
    async with service.db.write() as session:
        neighbour = (await session.execute(select(Contact).where(Contact.address == NEIGHBOUR))).scalar_one()
        await subscribe_to_ticket(session=session, ticket_id=ticket.id, contact_id=neighbour.id)
    await text(service, ticket.tracking_number, sender=NEIGHBOUR)
    answer = (await texts_out(service, NEIGHBOUR))[-1]
    assert answer.kind == "status-reply" and ticket.tracking_number in answer.payload["body"]


async def test_shared_location_fills_in_the_ticket_location(service: Inbox311) -> None:
    await text(service, "Big pothole near the school, I will send the spot")
    [before] = await tickets(service)
    assert before.lat is None
    await text(service, "", Latitude="41.947352", Longitude="-87.656154", Address="1060 W Addison St, Chicago")
    [after] = await tickets(service)
    assert (after.lat, after.lon) == (pytest.approx(41.947352), pytest.approx(-87.656154))
    assert after.address == "1060 W Addison St, Chicago" and after.location_source == "shared-location"
    [updated] = await events(service, "location-updated")
    assert updated.ticket_id == after.id


async def test_an_empty_text_makes_nothing(service: Inbox311) -> None:
    await text(service, "   ")
    assert await tickets(service) == [] and await texts_out(service) == []


async def test_a_short_code_sender_gets_a_ticket_but_no_answer(service: Inbox311) -> None:
    await text(service, "CARRIER ALERT: your message could not be delivered", sender="22395")
    [ticket] = await tickets(service)
    assert ticket.reporter_id is None
    async with service.db.read() as session:
        assert list((await session.execute(select(Outbox))).scalars()) == []


async def test_ack_acknowledges_long_messages_within_two_segments(service: Inbox311) -> None:
    long_report = "There is a huge pothole " + "and it keeps getting deeper every day " * 10 + "😀"
    await text(service, long_report)
    [ticket] = await tickets(service)
    [ack] = await texts_out(service)
    body = ack.payload["body"]
    assert count_segments(body).segments <= 2
    assert (
        re.search(rf"http://311\.city\.example/track/{ticket.tracking_number}\?t=\S+", body)
        .group(0)
        .endswith(ticket.public_token)
    )  # the link is whole


@pytest.mark.parametrize(
    "where",
    ["https://maps.google.com/?q=41.947352,-87.656154", "it is at 41.947352, -87.656154"],
)
async def test_a_map_link_or_coordinates_in_a_later_text_fill_in_the_location(service: Inbox311, where: str) -> None:
    await text(service, "Big pothole near the school")
    await text(service, where)
    [ticket] = await tickets(service)
    assert (ticket.lat, ticket.lon) == (pytest.approx(41.947352, abs=1e-5), pytest.approx(-87.656154, abs=1e-5))
    [updated] = await events(service, "location-updated")
    assert updated.ticket_id == ticket.id and updated.data["source"] == "sms"
