"""Ask when it matters, by text: the acknowledgement asks where, and the answer fills the ticket even when it comes
after the conversation window has closed (signed webhooks into a running service; texts read from the outbox)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import Event, Message, Outbox, Ticket, utcnow
from tests.twilio_support import RESIDENT, SMS_PATH, inbound, post_signed, sms_settings


@pytest.fixture
async def service(settings: Settings, db_url: str) -> AsyncIterator[Inbox311]:
    svc = Inbox311(sms_settings(settings, db_url), senders=[])
    await svc.start()
    yield svc
    await svc.stop()


async def text(service: Inbox311, body: str) -> None:
    host, port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        response = await post_signed(client, SMS_PATH, inbound(body, sender=RESIDENT))
    assert response.status_code == 200
    await service.worker.drain()


async def rows(service: Inbox311, model: type) -> list:
    async with service.db.read() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def test_sms_ack_asks_where_and_a_late_answer_fills_the_ticket(service: Inbox311) -> None:
    await text(service, "The street light is out again, it's pitch dark")
    [ack] = await rows(service, Outbox)
    assert (
        ack.kind == "ack" and "Where is it? Reply with an address or the nearest cross streets." in ack.payload["body"]
    )
    assert ack.payload["segments"] <= 2

    then = utcnow() - timedelta(hours=5)  # far past the 30-minute conversation window
    async with service.db.write() as session:
        await session.execute(update(Message).values(created_at=then))
        await session.execute(update(Outbox).values(created_at=then))
    await text(service, "Clark and Belmont")

    [ticket] = await rows(service, Ticket)  # the answer did not become a new ticket
    assert ticket.address == "Clark & Belmont" and ticket.location_source == "intersection"
    actions = [(e.action, e.data.get("field")) for e in await rows(service, Event) if e.action.startswith("question")]
    assert actions == [("question-asked", "location"), ("question-answered", "location")]
    assert not any("Where is it" in o.payload.get("body", "") for o in (await rows(service, Outbox))[1:])
