"""Nothing is lost and nothing is done twice: crashes between any two steps, failing stages, a relay that is down."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiosmtplib
import pytest

from gateway.app import Inbox311
from gateway.pipeline import Stage, StageContext, WorkItem
from gateway.settings import Settings
from gateway.stages import pipeline_stages
from gateway.worker import PipelineWorker
from storage.models import OutboxState, RawState
from storage.outbox import claim_due_outbox, list_outbox
from storage.raw import NewRaw, claim_pending, list_raw, store_raw_batch
from storage.tickets import list_tickets
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink


def raw_email(n: int, subject: str = "Streetlight out") -> NewRaw:
    body = (
        f"From: r{n}@resident.example\r\nTo: reports@city.example\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <m{n}@resident.example>\r\n\r\nThe light at {n} Oak Ave is out.\r\n"
    ).encode()
    return NewRaw(
        channel="email",
        source="test",
        idempotency_key=f"mid:m{n}@resident.example",
        raw=body,
        message_id=f"m{n}@resident.example",
    )


async def store(svc: Inbox311, items: list[NewRaw]) -> None:
    async with svc.db.write() as session:
        await store_raw_batch(session=session, items=items)


async def test_row_claimed_by_a_crashed_worker_is_processed_after_restart(
    settings: Settings, db_url: str, sink: SmtpSink
) -> None:
    cfg = service_settings(settings, db_url, sink.port, worker={"lease_seconds": 0.5})
    first = Inbox311(cfg)
    await first.start()
    await first.worker.stop()  # this instance will "die" holding a lease
    await store(first, [raw_email(1), raw_email(2)])
    async with first.db.write() as session:
        claimed = await claim_pending(session=session, owner="dead-worker", limit=1, lease=timedelta(seconds=0.5))
    assert [r.id for r in claimed] == [1]
    await first.stop()

    second = Inbox311(cfg)
    await second.start()
    try:
        await second.worker.drain()
        await sink.handler.wait_for(2)
        async with second.db.read() as session:
            tickets = await list_tickets(session=session)
            raws = await list_raw(session=session)
        assert len(tickets) == 2
        assert {r.state for r in raws} == {RawState.DONE}
        assert sorted(r.ticket_id for r in raws) == sorted(t.id for t in tickets)
        assert len(sink.handler.envelopes) == 2
    finally:
        await second.stop()


async def test_reply_queued_but_not_sent_is_sent_after_restart_once(
    settings: Settings, db_url: str, sink: SmtpSink
) -> None:
    cfg = service_settings(settings, db_url, sink.port, outbox={"lease_seconds": 0.5})
    first = Inbox311(cfg)
    await first.start()
    await first.outbox.stop()  # replies pile up, then the process "dies" holding one of them
    await store(first, [raw_email(1), raw_email(2)])
    await first.worker.drain()
    async with first.db.write() as session:
        leased = await claim_due_outbox(
            session=session, owner="dead-sender", channels=("email",), limit=1, lease=timedelta(seconds=0.5)
        )
    assert len(leased) == 1
    await first.stop()
    assert sink.handler.envelopes == []

    second = Inbox311(cfg)
    await second.start()
    try:
        messages = await sink.handler.wait_for(2)
        await second.worker.drain()
        assert sorted(m["In-Reply-To"] for m in messages) == ["<m1@resident.example>", "<m2@resident.example>"]
        # the sink has the data before the sender reads its 250 and marks the row sent
        for _ in range(100):
            async with second.db.read() as session:
                states = {r.state for r in await list_outbox(session=session)}
            if states == {OutboxState.SENT}:
                break
            await asyncio.sleep(0.05)
        assert states == {OutboxState.SENT}
    finally:
        await second.stop()
    assert len(sink.handler.envelopes) == 2


async def test_stage_that_raises_quarantines_and_the_queue_goes_on(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    async def explode(item: WorkItem, ctx: StageContext) -> None:
        if item.parsed and "boom" in item.parsed.subject:
            raise RuntimeError("classifier fell over")

    stages = (*pipeline_stages()[:2], Stage(name="explode", run=explode, transactional=False), *pipeline_stages()[2:])
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    svc.worker = PipelineWorker(svc.db, svc.services, stages=stages)
    await svc.start()
    try:
        await store(svc, [raw_email(1, "boom"), raw_email(2), raw_email(3, "")])
        await svc.worker.drain()
        async with svc.db.read() as session:
            raws = {r.id: r for r in await list_raw(session=session)}
            tickets = await list_tickets(session=session)
        assert raws[1].state == RawState.QUARANTINED
        assert raws[1].reason == "explode: RuntimeError: classifier fell over"
        assert raws[2].state == raws[3].state == RawState.DONE
        assert len(tickets) == 2
    finally:
        await svc.stop()


async def test_empty_message_is_quarantined_with_reason(settings: Settings, sqlite_url: str, sink: SmtpSink) -> None:
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    await svc.start()
    try:
        host, port = svc.smtp_address
        await aiosmtplib.send(
            b"\r\n", sender="x@resident.example", recipients=["reports@city.example"], hostname=host, port=port
        )
        await svc.worker.drain()
        async with svc.db.read() as session:
            [raw] = await list_raw(session=session)
        assert raw.state == RawState.QUARANTINED
        assert raw.reason == "parse: empty: no subject, no text and no attachments"
        assert svc.smtp.running and svc.worker.running
    finally:
        await svc.stop()


async def test_relay_down_loses_nothing_then_gives_up_as_dead(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    sink.handler.refuse_with = "451 4.3.0 try again later"
    svc = Inbox311(
        service_settings(
            settings,
            sqlite_url,
            sink.port,
            outbox={"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.1, "max_attempts": 3},
        )
    )
    await svc.start()
    try:
        await store(svc, [raw_email(1)])
        await svc.worker.drain()
        for _ in range(200):
            async with svc.db.read() as session:
                [row] = await list_outbox(session=session)
            if row.state == OutboxState.DEAD:
                break
            await svc.outbox.run_once()

            await asyncio.sleep(0.03)
        assert row.state == OutboxState.DEAD and row.attempts == 3
        assert "451" in row.error
    finally:
        await svc.stop()


async def test_relay_back_after_outage_delivers(settings: Settings, sqlite_url: str, sink: SmtpSink) -> None:
    port = sink.port
    await sink.stop()  # nothing listens: connection refused
    svc = Inbox311(service_settings(settings, sqlite_url, port))
    await svc.start()
    try:
        await store(svc, [raw_email(1)])
        await svc.worker.drain()
        async with svc.db.read() as session:
            [row] = await list_outbox(session=session)
        for _ in range(100):
            if row.attempts >= 2 and row.state != OutboxState.SENDING:  # not caught in the middle of an attempt
                break
            await svc.outbox.run_once()
            async with svc.db.read() as session:
                [row] = await list_outbox(session=session)

            await asyncio.sleep(0.05)
        assert row.state == OutboxState.PENDING and "unreachable" in row.error
        await sink.start(port)
        [ack] = await sink.handler.wait_for(1, within=15)
        assert ack["In-Reply-To"] == "<m1@resident.example>"
    finally:
        await svc.stop()


@pytest.mark.parametrize("missing_id", [True, False])
async def test_idempotency_key_with_and_without_message_id(service: Inbox311, sink: SmtpSink, missing_id: bool) -> None:
    host, port = service.smtp_address
    msg = report(message_id=None if missing_id else "<same@resident.example>")
    await aiosmtplib.send(msg, hostname=host, port=port)
    await aiosmtplib.send(msg, hostname=host, port=port)
    await service.worker.drain()
    async with service.db.read() as session:
        raws = await list_raw(session=session)
    assert len(raws) == 1
    assert raws[0].idempotency_key.startswith("sha256:" if missing_id else "mid:")
