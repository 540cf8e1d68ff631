"""Two `serve` instances on one PostgreSQL share the pending work; no message is processed or answered twice."""

from __future__ import annotations

import asyncio

import aiosmtplib
from sqlalchemy import text

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import RawState
from storage.raw import list_raw
from storage.tickets import list_tickets
from tests.gateway.conftest import report, service_settings
from tests.imap_server import wait_until
from tests.smtp_sink import SmtpSink

MESSAGES = 120


async def test_two_instances_share_the_work_exactly_once(settings: Settings, pg_url: str) -> None:
    sink = await SmtpSink().start()
    # Instance two hears of the mail instance one stores by PostgreSQL's NOTIFY (storage/wakeups.py); with its
    # poll of a minute, only that lets it into the race.
    cfg = service_settings(settings, pg_url, sink.port, worker={"batch_size": 4, "poll_seconds": 60})
    one, two = Inbox311(cfg), Inbox311(cfg)
    await one.start()
    await two.start(migrate=False)
    try:

        async def send(svc: Inbox311, n: int) -> None:
            host, port = svc.smtp_address
            msg = report(
                subject=f"Tree down {n}",
                body=f"A tree fell on {n} Elm St.",
                message_id=f"<scale{n}@resident.example>",
                sender=f"r{n}@resident.example",
            )
            await aiosmtplib.send(msg, hostname=host, port=port)

        # Everything arrives at instance one; both workers race for it.
        await asyncio.gather(*(send(one, n) for n in range(MESSAGES)))
        await sink.handler.wait_for(MESSAGES, within=60)
        await asyncio.sleep(0.5)  # a duplicate reply, if any, would arrive now
        async with one.db.read() as session:
            tickets = await list_tickets(session=session, limit=10 * MESSAGES)
            raws = await list_raw(session=session, limit=10 * MESSAGES)
    finally:
        await one.stop()
        await two.stop()
        await sink.stop()
    assert len(tickets) == MESSAGES
    assert len({t.tracking_number for t in tickets}) == MESSAGES
    assert {r.state for r in raws} == {RawState.DONE} and all(r.attempts == 1 for r in raws)
    replies = [m["In-Reply-To"] for m in sink.handler.messages]
    assert len(replies) == len(set(replies)) == MESSAGES
    assert one.worker.processed > 0 and two.worker.processed > 0, "both instances should have taken work"


async def test_an_ingest_only_instance_stores_and_a_worker_instance_processes(settings: Settings, pg_url: str) -> None:
    sink = await SmtpSink().start()
    front = Inbox311(service_settings(settings, pg_url, sink.port, worker={"enabled": False}))
    back = Inbox311(service_settings(settings, pg_url, sink.port, smtp={"enabled": False}, http={"enabled": False}))
    await front.start()
    try:
        host, port = front.smtp_address
        await aiosmtplib.send(report(message_id="<front1@resident.example>"), hostname=host, port=port)
        healthy, details = await front.health()
        assert healthy and details["worker"] == "off"
        async with front.db.read() as session:
            assert [r.state for r in await list_raw(session=session)] == [RawState.PENDING]
        await back.start(migrate=False)
        try:
            [ack] = await sink.handler.wait_for(1, within=30)
            assert ack["In-Reply-To"] == "<front1@resident.example>"
        finally:
            await back.stop()
        async with front.db.read() as session:
            assert [r.state for r in await list_raw(session=session)] == [RawState.DONE]
            assert len(await list_tickets(session=session)) == 1
    finally:
        await front.stop()
        await sink.stop()


async def test_a_worker_instance_hears_of_mail_another_instance_stored_without_polling(
    settings: Settings, pg_url: str
) -> None:
    """PostgreSQL announces new raw rows (LISTEN/NOTIFY): a worker that would poll once a minute answers at once,
    and listens again after its connection is cut."""
    sink = await SmtpSink().start()
    front = Inbox311(service_settings(settings, pg_url, sink.port, worker={"enabled": False}))
    back = Inbox311(
        service_settings(settings, pg_url, sink.port, smtp={"enabled": False}, http={"enabled": False},
                         worker={"poll_seconds": 60})
    )  # fmt: skip
    await front.start()
    await back.start(migrate=False)
    try:
        listener = back.worker.listener
        assert listener is not None
        await wait_until(lambda: listener.listening, what="the listener")
        await asyncio.sleep(0.2)  # the worker's first look is over: from now on only a wake-up makes it look
        host, port = front.smtp_address
        await aiosmtplib.send(report(message_id="<heard1@resident.example>"), hostname=host, port=port)
        [first] = await sink.handler.wait_for(1, within=10)  # the poll would have taken 60 s
        assert first["In-Reply-To"] == "<heard1@resident.example>"

        async with front.db.write() as session:  # the server drops the listening connection
            cut = await session.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
            )  # fmt: skip
            assert cut.scalars().all() == [True]
        await wait_until(lambda: listener.connections == 2 and listener.listening, what="listening again")
        await aiosmtplib.send(
            report(message_id="<heard2@resident.example>", sender="other@resident.example"), hostname=host, port=port
        )
        _, second = await sink.handler.wait_for(2, within=10)
        assert second["In-Reply-To"] == "<heard2@resident.example>"
    finally:
        await back.stop()
        await front.stop()
        await sink.stop()
