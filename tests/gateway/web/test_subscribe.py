"""Subscribing another address from the tracking page: double opt-in (nothing but the confirmation until it is
confirmed), then updates like the reporter's, each with a one-click unsubscribe that ends only that subscription."""

from __future__ import annotations

import re

import aiosmtplib
import httpx
from sqlalchemy import select

from gateway.app import Inbox311
from storage.models import Outbox
from storage.tickets import list_tickets
from tests.gateway.conftest import report
from tests.gateway.web.conftest import csrf_of
from tests.smtp_sink import SmtpSink

NEIGHBOUR = "neighbour@elsewhere.example"


async def test_double_opt_in_then_updates_then_one_click_out(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    host, port = web_service.smtp_address
    await aiosmtplib.send(report(), hostname=host, port=port)
    [ack] = await sink.handler.wait_for(1)
    track = re.search(r"http://311\.city\.example(/track/\S+)", ack.get_payload(decode=True).decode()).group(1)
    number, token = re.fullmatch(r"/track/([^?]+)\?t=(.+)", track).groups()
    async with web_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
    staff_page = await agent_client.get(f"/inbox/tickets/{ticket.id}")
    csrf = csrf_of(staff_page.text)

    async with httpx.AsyncClient(base_url=str(agent_client.base_url)) as public:
        page = await public.get(track)
        assert 'action="/track/' in page.text and "Get updates by email" in page.text
        asked = await public.post(f"/track/{number}/subscribe", data={"t": token, "email": NEIGHBOUR, "lang": "es"})
        assert asked.status_code == 303 and "subscribe=sent" in asked.headers["location"]
        wrong = await public.post(f"/track/{number}/subscribe", data={"t": "guess", "email": NEIGHBOUR})
        assert wrong.status_code == 404
        _, confirm_mail = await sink.handler.wait_for(2)
        assert confirm_mail["To"] == NEIGHBOUR
        confirm_url = re.search(
            r"http://311\.city\.example(/subscribe/confirm/\S+)", confirm_mail.get_payload(decode=True).decode()
        ).group(1)
        assert "confirmar" in confirm_mail.get_payload(decode=True).decode().lower()

        # Not confirmed yet: a status change reaches only the reporter.
        await agent_client.post(
            f"/inbox/tickets/{ticket.id}/status", data={"csrf_token": csrf, "status": "in_progress"}
        )
        *_, update = await sink.handler.wait_for(3)
        assert update["To"] == "jane@resident.example"

        shown = await public.get(confirm_url)  # opening the link (or a mail scanner fetching it) confirms nothing
        assert shown.status_code == 200 and "Confirm your subscription" in shown.text
        confirmed = await public.post(confirm_url)
        assert "Subscription confirmed" in confirmed.text

        await agent_client.post(f"/inbox/tickets/{ticket.id}/status", data={"csrf_token": csrf, "status": "resolved"})
        messages = await sink.handler.wait_for(5)
        to_neighbour = next(m for m in messages[3:] if m["To"] == NEIGHBOUR)
        assert "fue resuelto" in to_neighbour.get_payload(decode=True).decode()  # in the language they chose
        link = re.fullmatch(r"<http://311\.city\.example(/unsubscribe/\S+)>", to_neighbour["List-Unsubscribe"]).group(1)
        out = await public.post(link, data={"List-Unsubscribe": "One-Click"})
        assert out.status_code == 200

        await agent_client.post(f"/inbox/tickets/{ticket.id}/status", data={"csrf_token": csrf, "status": "closed"})
        *_, last = await sink.handler.wait_for(6)
        assert last["To"] == "jane@resident.example"  # the reporter still hears; the neighbour does not
        async with web_service.db.read() as session:
            rows = (await session.execute(select(Outbox.kind).where(Outbox.recipient == NEIGHBOUR))).scalars().all()
        assert sorted(rows) == ["status-resolved", "subscribe-confirm"]  # nothing queued for them after unsubscribing
