"""The worker commits several rows per transaction; a row failing inside a group changes nothing for the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from gateway import worker as worker_module
from gateway.app import Inbox311
from gateway.pipeline import Discard, Stage, StageContext, WorkItem
from gateway.settings import Settings
from gateway.stages import pipeline_stages
from gateway.worker import PipelineWorker
from storage.models import Event, RawInbound, RawState
from storage.outbox import enqueue_outbox_row, list_outbox
from storage.raw import list_raw
from storage.tickets import list_tickets
from tests.gateway.conftest import service_settings
from tests.gateway.test_durability import raw_email, store
from tests.smtp_sink import SmtpSink


async def _fail_some(item: WorkItem, ctx: StageContext) -> None:
    subject = item.parsed.subject if item.parsed else ""
    if "boom" in subject:
        raise RuntimeError("dedupe fell over")
    if "junk" in subject:
        raise Discard("junk", "not a report")


def _with_failing_stage() -> tuple[Stage, ...]:
    """The failing stage runs after `ticket`, inside the transaction: a ticket was already made when it raises."""
    stages = pipeline_stages()
    at = [s.name for s in stages].index("ticket") + 1
    return (*stages[:at], Stage(name="explode", run=_fail_some, transactional=True), *stages[at:])


@pytest.fixture
async def svc(
    settings: Settings, db_url: str, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Inbox311]:
    monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)  # the whole batch in one group however slow the box
    service = Inbox311(service_settings(settings, db_url, sink.port))
    service.worker = PipelineWorker(service.db, service.services, stages=_with_failing_stage())
    service.worker.on_committed = service.outbox.wake
    service.worker.outbox_lease, service.worker.hand_over = service.outbox.lease_offer, service.outbox.hand_over
    await service.start()
    await service.worker.stop()  # the tests drive the worker themselves
    yield service
    await service.stop()


async def test_a_failing_row_inside_a_group_is_settled_alone_and_the_others_once(svc: Inbox311, sink: SmtpSink) -> None:
    subjects = ["Pothole", "Light out", "boom", "Graffiti", "junk", "Hydrant leak"]
    await store(svc, [raw_email(n, subject) for n, subject in enumerate(subjects, start=1)])
    await svc.worker.drain()
    async with svc.db.read() as session:
        raws = {r.id: r for r in await list_raw(session=session)}
        tickets = await list_tickets(session=session)
        outbox = await list_outbox(session=session)
        created = (await session.execute(select(func.count()).where(Event.action == "created"))).scalar_one()
    assert raws[3].state == RawState.QUARANTINED and raws[3].reason == "explode: RuntimeError: dedupe fell over"
    assert raws[5].state == RawState.DISCARDED and raws[5].reason == "explode: junk: not a report"
    done = [raws[n] for n in (1, 2, 4, 6)]
    assert all(r.state == RawState.DONE for r in done)
    assert len(tickets) == len(outbox) == created == 4
    assert sorted(t.id for t in tickets) == sorted(r.ticket_id for r in done)
    # the rolled-back group's tracking numbers were given back: no gaps
    assert sorted(int(t.tracking_number.rsplit("-", 1)[1]) for t in tickets) == [1, 2, 3, 4]
    # the rolled-back group's replies (written leased to the sender) were never handed over; the redone rows' were
    messages = await sink.handler.wait_for(4)
    await asyncio.sleep(0.3)
    assert len(sink.handler.envelopes) == 4
    assert sorted(m["In-Reply-To"] for m in messages) == [f"<m{n}@resident.example>" for n in (1, 2, 4, 6)]


async def test_rows_of_one_batch_share_a_commit(svc: Inbox311) -> None:
    await svc.outbox.stop()  # only the pipeline's transactions are counted
    commits: list[int] = []
    event.listen(svc.db.sync_engine, "commit", lambda conn: commits.append(1))
    await store(svc, [raw_email(n) for n in range(1, 9)])
    commits.clear()
    processed = await svc.worker.run_once()
    assert processed == 8
    assert len(commits) == 2  # the claim, then one transaction for all eight
    async with svc.db.read() as session:
        assert {r.state for r in await list_raw(session=session)} == {RawState.DONE}
        assert len(await list_tickets(session=session)) == 8


async def test_a_row_another_worker_took_over_is_left_to_it_and_the_rest_of_its_group_is_done(svc: Inbox311) -> None:
    await store(svc, [raw_email(n) for n in range(1, 5)])
    taken, ready = await svc.worker._claim_and_prepare()
    assert taken == 4
    async with svc.db.write() as session:  # its lease ran out, and another instance claimed it
        await session.execute(update(RawInbound).where(RawInbound.id == 2).values(lease_owner="other-instance"))
    await svc.worker._commit_in_groups(ready)
    async with svc.db.read() as session:
        raws = {r.id: r for r in await list_raw(session=session)}
        tickets = await list_tickets(session=session)
    assert raws[2].state == RawState.PROCESSING and raws[2].lease_owner == "other-instance"
    assert raws[2].ticket_id is None
    assert all(raws[n].state == RawState.DONE for n in (1, 3, 4))
    assert sorted(t.id for t in tickets) == sorted(raws[n].ticket_id for n in (1, 3, 4))
    assert sorted(t.tracking_number[-1] for t in tickets) == ["1", "2", "3"]  # the rolled-back group left no gap


async def test_mail_committed_while_the_worker_finds_nothing_is_not_left_for_the_next_poll(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    """A wake-up that comes while the worker's claim is running (and finds nothing) still ends its wait: the
    worker polls once a minute here, so only that wake-up can get the mail answered in time."""
    service = Inbox311(service_settings(settings, sqlite_url, sink.port, worker={"poll_seconds": 60}))
    claim, arrived = service.worker._claim, False

    async def claim_while_mail_arrives() -> list[tuple[RawInbound, bytes | None]]:
        nonlocal arrived
        rows = await claim()
        if not rows and not arrived:  # committed just after the claim looked, then the worker is woken
            arrived = True
            await store(service, [raw_email(1)])
            service.worker.wake()
        return rows

    service.worker._claim = claim_while_mail_arrives  # type: ignore[method-assign]
    ack = await _first_at_the_relay(service, sink)
    assert arrived and ack["In-Reply-To"] == "<m1@resident.example>"


async def test_a_reply_queued_while_the_outbox_finds_nothing_is_not_left_for_the_next_poll(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    """The same for the outbox: a reply committed while it works out how long to wait goes out at once, not a
    minute later."""
    service = Inbox311(service_settings(settings, sqlite_url, sink.port, outbox={"poll_seconds": 60}))
    until_due, queued = service.outbox._seconds_until_due, False

    async def reply_queued_meanwhile() -> float:
        nonlocal queued
        wait = await until_due()  # nothing due: the poll's minute
        if not queued:
            queued = True
            async with service.db.write() as session:
                await enqueue_outbox_row(session=session, channel="email", kind="reply",
                                         recipient="r@resident.example", payload=REPLY)  # fmt: skip
            service.outbox.wake()
        return wait

    service.outbox._seconds_until_due = reply_queued_meanwhile  # type: ignore[method-assign]
    reply = await _first_at_the_relay(service, sink)
    assert queued and reply["Subject"] == "Re: Pothole [SR-2026-000001]"


async def _first_at_the_relay(service: Inbox311, sink: SmtpSink) -> Any:
    """Run the service until its first message reaches the relay (10 s at most: the poll would take a minute)."""
    await service.start()
    try:
        [message] = await sink.handler.wait_for(1, within=10)
    finally:
        await service.stop()
    return message


REPLY = {
    "from": "City 311 <reports@city.example>",
    "to": "r@resident.example",
    "subject": "Re: Pothole [SR-2026-000001]",
    "text": "We are on it.\n",
    "headers": {"Message-ID": "<sr-2026-000001.reply.test@city.example>"},
}
