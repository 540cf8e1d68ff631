"""The whole service reading a real Dovecot mailbox: APPENDed reports become tickets with acknowledgements, a resident's
answer to one is threaded onto its ticket, a restart takes nothing twice, and every account's state is in `/healthz`
and in `inbox311 imap status`."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest

from gateway.app import Inbox311
from gateway.commands.imap_cmd import _status as imap_status
from gateway.settings import Settings
from storage.db import Database
from storage.tickets import list_messages, list_tickets
from tests.gateway.conftest import service_settings
from tests.imap_server import PASSWORD, USER, Mailbox, raw_rows, report_bytes, wait_for_rows, wait_until
from tests.smtp_sink import SmtpSink


@pytest.fixture
def mailbox(imap_port: int) -> Iterator[Mailbox]:
    box = Mailbox(imap_port).create()
    yield box
    box.remove()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    s = await SmtpSink().start()
    yield s
    await s.stop()


def imap_entry(port: int, folder: str, **overrides: Any) -> dict[str, Any]:
    return {"name": "city", "host": "127.0.0.1", "port": port, "tls": "plain", "username": USER,
            "password": PASSWORD, "folder": folder, "processed_folder": f"{folder}-done", "batch_size": 4,
            "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5, **overrides}  # fmt: skip


def with_imap(settings: Settings, sqlite_url: str, sink: SmtpSink, *entries: dict[str, Any]) -> Settings:
    return service_settings(settings, sqlite_url, sink.port, imap=list(entries))


async def tickets_and_raw(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        tickets = await list_tickets(session=session)
    return len(tickets), len(await raw_rows(db))


async def healthz(svc: Inbox311) -> httpx.Response:
    host, port = svc.http_address
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        return await client.get("/healthz")


async def test_appended_reports_become_tickets_with_acks_and_replies_thread(
    settings: Settings, sqlite_url: str, sink: SmtpSink, mailbox: Mailbox, imap_port: int
) -> None:
    sent = [report_bytes(n) for n in range(6)]
    mailbox.append(sent)
    svc = Inbox311(with_imap(settings, sqlite_url, sink, imap_entry(imap_port, mailbox.folder)))
    await svc.start()
    try:
        acks = await sink.handler.wait_for(6, within=30)
        assert sorted(a["In-Reply-To"] for a in acks) == sorted(f"<r-{n}@example.test>" for n in range(6))
        assert all(re.search(r"\[SR-\d{4}-\d{6}\]", a["Subject"]) for a in acks)
        assert sorted(a["To"] for a in acks) == sorted(f"resident{n}@example.test" for n in range(6))
        await wait_until(lambda: mailbox.count() == 0 and mailbox.count(mailbox.done) == 6, what="the moves")

        # The resident answers the acknowledgement: same mailbox, threaded onto the ticket, no new ticket.
        ack = next(a for a in acks if a["To"] == "resident2@example.test")
        answer = EmailMessage()
        answer["From"] = "Resident 2 <resident2@example.test>"
        answer["To"] = "inbox@city.test"
        answer["Subject"] = f"Re: {ack['Subject']}"
        answer["Message-ID"] = make_msgid(domain="example.test")
        answer["In-Reply-To"] = ack["Message-ID"]
        answer["References"] = f"<r-2@example.test> {ack['Message-ID']}"
        answer.set_content("It is getting bigger, a car lost a hubcap there this morning.\n")
        await asyncio.to_thread(mailbox.append, [bytes(answer)])  # arrives by IDLE push
        await wait_for_rows(svc.db, 7, within=15)
        await svc.worker.drain()
        async with svc.db.read() as session:
            tickets = await list_tickets(session=session)
            number = re.search(r"SR-\d{4}-\d{6}", ack["Subject"]).group(0)
            [ticket] = [t for t in tickets if t.tracking_number == number]
            messages = await list_messages(session=session, ticket_id=ticket.id)
        assert len(tickets) == 6
        inbound = [m for m in messages if m.direction == "in"]
        assert len(inbound) == 2 and "hubcap" in inbound[1].body

        body = (await healthz(svc)).json()
        state = body["imap"]["city"]
        assert body["status"] == "ok" and state["connected"] and state["idling"] and state["running"]
        assert state["last_error"] is None and state["last_sync"] is not None and state["messages_stored"] == 7
        host, port = svc.http_address
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            metrics = (await client.get("/metrics")).text
        assert 'inbox311_messages_accepted_total{channel="email"} 7.0' in metrics
    finally:
        await svc.stop()

    # A restart (new process, same database and mailbox): nothing new, nothing twice.
    mailbox.append([report_bytes(6)])
    again = Inbox311(with_imap(settings, sqlite_url, sink, imap_entry(imap_port, mailbox.folder)))
    await again.start()
    try:
        await wait_until(lambda: again.imap[0].state.last_sync is not None, what="the first sync")
        await again.worker.drain()
        await wait_until(lambda: len(sink.handler.envelopes) >= 7, what="the seventh ack")
    finally:
        await again.stop()
    assert await tickets_and_raw(again.db) == (7, 8)
    assert again.imap[0].state.messages_stored == 1


async def test_healthz_and_imap_status_show_a_failing_account(
    settings: Settings,
    sqlite_url: str,
    sink: SmtpSink,
    mailbox: Mailbox,
    imap_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mailbox.append([report_bytes(1)])
    good = imap_entry(imap_port, mailbox.folder)
    # a folder that does not exist: logged in, but nothing can be read (a wrong password would slow the server's
    # later logins from this address for every other test)
    broken = imap_entry(imap_port, f"{mailbox.folder}-missing", name="parks", processed_folder="",
                        backoff_base_seconds=30, backoff_max_seconds=30)  # fmt: skip
    svc = Inbox311(with_imap(settings, sqlite_url, sink, good, broken))
    await svc.start()
    try:
        await wait_until(lambda: svc.imap[1].state.last_error is not None, what="the error")
        await wait_until(lambda: svc.imap[0].state.idling, what="IDLE")
        response = await healthz(svc)
        assert response.status_code == 503 and response.json()["status"] == "degraded"
        imap = response.json()["imap"]
        assert imap["city"]["connected"] and imap["city"]["last_error"] is None
        assert not imap["parks"]["connected"] and "cannot be selected" in imap["parks"]["last_error"]
        assert set(imap["parks"]) >= {"connected", "idling", "last_sync", "last_error", "messages_stored", "running"}

        # `inbox311 imap status`, pointed at this service's HTTP port, shows the same and exits 1
        _, port = svc.http_address
        cli_settings = svc.settings.replace(http={"port": port})
        code = await imap_status(argparse.Namespace(format="json"), cli_settings)
        rows = {r["account"]: r for r in json.loads(capsys.readouterr().out)}
        assert code == 1
        assert rows["city"]["state"] == "idle" and rows["city"]["stored"] == 1 and rows["city"]["last_uid"] == 1
        assert rows["city"]["last_sync"] is not None and rows["city"]["uidvalidity"] == mailbox.uidvalidity()
        assert rows["parks"]["state"] == "error" and "cannot be selected" in rows["parks"]["error"]
        assert rows["parks"]["stored"] == 0 and rows["parks"]["last_uid"] is None

        code = await imap_status(argparse.Namespace(format="table"), cli_settings)
        table = capsys.readouterr().out.splitlines()
        assert code == 1 and table[0].split()[:4] == ["ACCOUNT", "FOLDER", "STATE", "LAST_SYNC"]
        assert table[1].startswith("city") and " idle " in table[1]
    finally:
        await svc.stop()

    # Without a running service: the checkpoint and counts from the database, live state unknown, exit 0.
    code = await imap_status(argparse.Namespace(format="table"), cli_settings)
    out = capsys.readouterr().out
    assert code == 0 and "live state unknown" in out
    assert re.search(r"^city\s+\S+\s+unknown\s+\d{4}-\d\d-\d\dT", out, re.MULTILINE)
