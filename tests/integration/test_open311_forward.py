"""Forwarding to an upstream Open311 system, tested against a second Inbox311 acting as the city's CRM.

Two services, two databases: `city` (the one under test) forwards new pothole tickets to `crm`, retrying while
the CRM is down; the scheduled mirror then carries the CRM's status changes back to the city's ticket.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.apikeys import create_api_key
from storage.db import Database
from storage.models import Outbox, Ticket
from storage.outbox import list_outbox
from storage.tickets import get_ticket_by_number, list_events, list_tickets
from tests.gateway.conftest import report, service_settings
from tests.gateway.open311.conftest import add_key, base_url, staff_sets_status, start_service
from tests.smtp_sink import SmtpSink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


async def ticket_of(service: Inbox311, number: str) -> Ticket:
    async with service.db.read() as session:
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
    assert ticket is not None
    return ticket


async def actions(service: Inbox311, ticket: Ticket) -> list[tuple[str, dict]]:
    async with service.db.read() as session:
        return [(e.action, e.data) for e in await list_events(session=session, ticket_id=ticket.id)]


async def outbox_rows(service: Inbox311) -> list[Outbox]:
    async with service.db.read() as session:
        return [r for r in await list_outbox(session=session) if r.channel == "open311"]


async def test_forward_retry_and_status_mirror(
    settings: Settings, db_url: str, sqlite_template: Path, tmp_path: Path
) -> None:
    sink = await SmtpSink().start()
    crm_port = free_port()
    crm_db = tmp_path / "crm" / "crm.db"
    crm_db.parent.mkdir()
    shutil.copyfile(sqlite_template, crm_db)
    crm_url = f"sqlite+aiosqlite:///{crm_db}"
    database = Database(crm_url)
    async with database.write() as session:
        crm_key = (await create_api_key(session=session, name="city-inbox311")).secret
    await database.dispose()

    upstream = {"url": f"http://127.0.0.1:{crm_port}/open311/v2", "api_key": crm_key, "poll_minutes": 0.01,
                "service_map": {"pothole": "pothole", "graffiti": "no-such-service"}}  # fmt: skip
    city = await start_service(service_settings(settings, db_url, sink.port, open311={"upstream": upstream}))
    crm: Inbox311 | None = None
    try:
        key = await add_key(city, "resident-app")
        async with httpx.AsyncClient(base_url=base_url(city)) as http:
            form = {"api_key": key, "service_code": "pothole", "address_string": "12 Main St", "lat": "42.3601",
                    "long": "-71.0589", "description": "Deep pothole, call Pat on 617-555-0123",
                    "email": "pat@resident.example", "first_name": "Pat"}  # fmt: skip
            number = (await http.post("/requests.json", data=form)).json()[0]["service_request_id"]
            graffiti = {**form, "service_code": "graffiti", "description": "Tags on the bridge"}
            graffiti_number = (await http.post("/requests.json", data=graffiti)).json()[0]["service_request_id"]

        # The CRM is down: the forward waits in the outbox, retrying.
        failed = await eventually(
            lambda: _rows_where(city, lambda r: r.attempts >= 1 and r.error and "ConnectError" in r.error)
        )
        assert failed[0].state in ("pending", "sending") and failed[0].kind == "forward"

        # The CRM answers with a token (its pipeline is not awaited); the mirror resolves it to the CRM's id later.
        crm_settings = settings.replace(
            open311={"post_wait_seconds": 0},
            database={"url": crm_url}, smtp={"enabled": False}, http={"port": crm_port},
            outbound={"email": {"relay_port": sink.port}},
        )  # fmt: skip
        crm = await start_service(crm_settings)

        ticket = await eventually(lambda: _forwarded(city, number))
        async with crm.db.read() as session:
            [crm_ticket] = await list_tickets(session=session)
        assert ticket.upstream_id == crm_ticket.tracking_number
        assert crm_ticket.channel == "open311" and crm_ticket.category == "pothole"
        assert crm_ticket.reporter_id is None  # include_contact is off: no email, phone or name went upstream
        assert number in crm_ticket.description and "617-555-0123" not in crm_ticket.description
        assert (crm_ticket.lat, crm_ticket.address) == (42.3601, "12 Main St")
        [forwarded] = [d for a, d in await actions(city, ticket) if a == "forwarded"]
        assert forwarded["service_request_id"] is None and forwarded["token"] == ticket.upstream_token

        # An upstream that refuses the service code: not retried, the row is dead and says why.
        dead = await eventually(lambda: _rows_where(city, lambda r: r.state == "dead"))
        assert "HTTP 400" in dead[0].error and "no-such-service" in dead[0].error
        assert (await ticket_of(city, graffiti_number)).upstream_id is None

        # An email report has no location without a locator: Open311 needs one, so it is not forwarded.
        host, port = city.smtp_address
        await aiosmtplib.send(report(subject="Pothole", body="A pothole again."), hostname=host, port=port)
        await city.worker.drain()
        async with city.db.read() as session:
            email_ticket = next(t for t in await list_tickets(session=session) if t.channel == "email")
        assert ("forward-skipped", {"reason": "no-location", "upstream": upstream["url"]}) in await actions(
            city, email_ticket
        )

        # The scheduled mirror has seen it open at the CRM; the CRM closes it with a note, and ours follows.
        await eventually(lambda: _upstream_said(city, ticket, "open"))
        await staff_sets_status(crm, crm_ticket.tracking_number, "closed", "Filled on Tuesday.")
        closed = await eventually(lambda: _status(city, number, "closed"))
        events = await actions(city, closed)
        assert (
            "status-changed",
            {"from": "acknowledged", "to": "closed", "public_note": "Filled on Tuesday."},
        ) in events
        assert [d["status"] for a, d in events if a == "upstream-status"] == ["open", "closed"]
        assert closed.closed_at is not None
        async with httpx.AsyncClient(base_url=base_url(city)) as http:
            [public] = (await http.get(f"/requests/{number}.json")).json()
        assert (public["status"], public["status_notes"]) == ("closed", "Filled on Tuesday.")
        # ... and the resident hears of it like of any status change (the staff service's notification).
        notice = await eventually(lambda: _mail_to(sink, "pat@resident.example", f"{number} is now closed"))
        assert "Filled on Tuesday." in notice

        # The CRM re-opens it: ours is in progress again; later polls change nothing more.
        await staff_sets_status(crm, crm_ticket.tracking_number, "in_progress")
        await eventually(lambda: _status(city, number, "in_progress"))
        report_ = await city.scheduler.run_open311_mirror()
        assert report_.changed == [] and report_.errors == []
    finally:
        if crm is not None:
            await crm.stop()
        await city.stop()
        await sink.stop()


async def _rows_where(service: Inbox311, predicate: Callable[[Outbox], Any]) -> list[Outbox]:
    return [r for r in await outbox_rows(service) if predicate(r)]


async def _forwarded(service: Inbox311, number: str) -> Ticket | None:
    ticket = await ticket_of(service, number)
    return ticket if ticket.upstream_id else None


async def _status(service: Inbox311, number: str, status: str) -> Ticket | None:
    ticket = await ticket_of(service, number)
    return ticket if ticket.status == status else None


async def _upstream_said(service: Inbox311, ticket: Ticket, status: str) -> bool:
    return any(a == "upstream-status" and d["status"] == status for a, d in await actions(service, ticket))


async def _mail_to(sink: SmtpSink, address: str, phrase: str) -> str | None:
    for message in sink.handler.messages:
        body = message.get_payload(decode=True).decode()
        if message["To"] == address and phrase in body:
            return body
    return None
