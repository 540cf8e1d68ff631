"""The pipeline's replies go to the sender without a claim: written leased to it, handed over after the commit.

The lease keeps the outbox's rules: nothing sent twice (a reply handed over too near its lease's end is left to
be claimed once it ends), nothing lost (one never sent is released at a clean stop, claimed again after a crash),
and the other due rows still claimed while replies are handed over."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from gateway.app import Inbox311
from gateway.outbox import worker as outbox_worker_module
from gateway.outbox.worker import HANDED_BATCHES, OutboxWorker
from gateway.settings import Settings
from storage.db import Database, as_transient
from storage.models import Outbox, OutboxState, utcnow
from storage.outbox import OutboxLease, enqueue_outbox_row, list_outbox, offer_outbox_lease, take_leased_outbox
from tests.gateway.conftest import service_settings
from tests.gateway.test_durability import raw_email, store
from tests.smtp_sink import SmtpSink


class RecordingSender:
    """A sender that records what it is given; `gate`, when set, holds every send until it opens."""

    channel = "email"

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.gate: asyncio.Event | None = None

    async def send(self, row: Outbox) -> str | None:
        if self.gate is not None:
            await self.gate.wait()
        assert row.id is not None
        self.sent.append(row.id)
        return None

    async def close(self) -> None:
        pass


def _reply(n: int) -> dict[str, Any]:
    payload = {"from": "City 311 <reports@city.example>", "to": f"r{n}@resident.example", "subject": f"Re: {n}",
               "headers": {"Message-ID": f"<m{n}@city.example>"}, "text": f"reply {n}"}  # fmt: skip
    return {"channel": "email", "kind": "ack", "recipient": f"r{n}@resident.example", "payload": payload,
            "message_id": f"m{n}@city.example"}  # fmt: skip


async def _queue(db: Database, n: int, lease: OutboxLease | None) -> list[Outbox]:
    """Queue reply `n` as the pipeline does, under `lease` if given; the rows written leased."""
    async with db.write() as session:
        if lease is not None:
            offer_outbox_lease(session, lease)
        await enqueue_outbox_row(session=session, **_reply(n))
        return take_leased_outbox(session)


@pytest.fixture
def outbox(settings: Settings, sqlite_db: Database) -> OutboxWorker:
    return OutboxWorker(sqlite_db, settings.outbox, [RecordingSender()], owner="this-instance")


def _sender(outbox: OutboxWorker) -> RecordingSender:
    sender = outbox._senders["email"]
    assert isinstance(sender, RecordingSender)
    return sender


def _lease(owner: str = "this-instance", seconds: float = 60.0) -> OutboxLease:
    return OutboxLease(owner=owner, channels=frozenset({"email"}), until=utcnow() + timedelta(seconds=seconds))


async def _states(db: Database) -> dict[int, tuple[str, int]]:
    async with db.read() as session:
        return {r.id: (r.state, r.attempts) for r in await list_outbox(session=session) if r.id is not None}


async def test_an_acknowledgement_goes_out_without_a_claim(
    settings: Settings, db_url: str, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed: list[int] = []
    real_claim = outbox_worker_module.claim_due_outbox

    async def counting_claim(**kwargs: Any) -> list[Outbox]:
        rows = await real_claim(**kwargs)
        claimed.extend(r.id for r in rows if r.id is not None)
        return rows

    monkeypatch.setattr(outbox_worker_module, "claim_due_outbox", counting_claim)
    svc = Inbox311(service_settings(settings, db_url, sink.port))
    await svc.start()
    try:
        await store(svc, [raw_email(n) for n in range(1, 4)])
        svc.worker.wake()
        messages = await sink.handler.wait_for(3)
        assert sorted(m["In-Reply-To"] for m in messages) == [f"<m{n}@resident.example>" for n in range(1, 4)]
        for _ in range(100):  # the sink has the data before the sender reads its 250 and marks the row sent
            states = await _states(svc.db)
            if {s for s, _ in states.values()} == {OutboxState.SENT}:
                break
            await asyncio.sleep(0.05)
        assert len(states) == 3 and set(states.values()) == {(OutboxState.SENT, 1)}  # one attempt each
        assert claimed == []  # none of them had to be claimed
    finally:
        await svc.stop()
    assert len(sink.handler.envelopes) == 3


async def test_due_rows_are_still_claimed_while_replies_are_handed_over(
    outbox: OutboxWorker, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker_module, "CLAIM_EVERY_S", 0.2)
    waiting = await _queue(sqlite_db, 1, None)  # e.g. a staff reply, or a retry that fell due
    assert waiting == []
    outbox.hand_over(await _queue(sqlite_db, 2, _lease()))
    assert await outbox.run_once() == 2  # the first round claims as well
    assert sorted(_sender(outbox).sent) == [1, 2]
    await _queue(sqlite_db, 3, None)
    outbox.hand_over(await _queue(sqlite_db, 4, _lease()))
    assert await outbox.run_once() == 1 and _sender(outbox).sent[-1] == 4  # handed over only: no claim so soon
    await asyncio.sleep(0.25)
    outbox.hand_over(await _queue(sqlite_db, 5, _lease()))
    assert await outbox.run_once() == 2 and sorted(_sender(outbox).sent[-2:]) == [3, 5]
    assert await _states(sqlite_db) == {n: (OutboxState.SENT, 1) for n in range(1, 6)}


async def test_a_reply_handed_over_near_its_lease_end_is_left_for_a_claim(
    outbox: OutboxWorker, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker_module, "CLAIM_EVERY_S", 0.0)  # every round claims
    outbox.hand_over(await _queue(sqlite_db, 1, _lease(seconds=5.0)))  # less than half of the sixty seconds left
    assert await outbox.run_once() == 0  # not sent from memory, and its lease holds off a claim
    assert _sender(outbox).sent == []
    assert await outbox.run_once(now=utcnow() + timedelta(seconds=6)) == 1  # claimed once the lease has ended
    assert _sender(outbox).sent == [1]
    assert await _states(sqlite_db) == {1: (OutboxState.SENT, 2)}


async def test_replies_handed_over_and_not_sent_are_released_at_stop(outbox: OutboxWorker, sqlite_db: Database) -> None:
    outbox.hand_over(await _queue(sqlite_db, 1, _lease()) + await _queue(sqlite_db, 2, _lease()))
    await outbox.stop()
    async with sqlite_db.read() as session:
        rows = await list_outbox(session=session)
    assert [(r.state, r.lease_owner) for r in rows] == [(OutboxState.PENDING, None)] * 2  # due at the next start
    assert _sender(outbox).sent == []


async def test_lease_offers_stop_while_the_sender_is_behind(settings: Settings, sqlite_db: Database) -> None:
    sender = RecordingSender()
    sender.gate = asyncio.Event()
    outbox = OutboxWorker(
        sqlite_db, settings.outbox.model_copy(update={"batch_size": 2}), [sender], owner="this-instance"
    )
    assert outbox.lease_offer() is None  # not running: nothing would take the replies
    await outbox.start()
    try:
        offer = outbox.lease_offer()
        assert offer is not None and offer.owner == "this-instance" and offer.channels == {"email"}
        ids = iter(range(1, 100))
        outbox.hand_over([as_transient(Outbox, {"id": next(ids), **_reply(1), "lease_until": offer.until})])
        await asyncio.sleep(0.1)  # the worker takes it and waits at the gate
        backlog = [as_transient(Outbox, {"id": next(ids), **_reply(1), "lease_until": offer.until})
                   for _ in range(HANDED_BATCHES * 2)]  # fmt: skip
        outbox.hand_over(backlog)
        assert outbox.lease_offer() is None  # four batches wait: new replies take the claim's way
        sender.gate.set()
        for _ in range(100):
            if len(sender.sent) == 1 + len(backlog):
                break
            await asyncio.sleep(0.02)
        assert sorted(sender.sent) == list(range(1, 2 + len(backlog)))
        assert outbox.lease_offer() is not None
    finally:
        sender.gate.set()  # (a failed assertion above must not leave the worker waiting at the gate)
        await outbox.stop()


async def test_a_reply_leased_by_an_instance_that_died_is_sent_once(
    settings: Settings, db_url: str, sink: SmtpSink
) -> None:
    """On SQLite the next start releases it; on PostgreSQL (another instance may still run) its lease's end."""
    cfg = service_settings(settings, db_url, sink.port)
    svc = Inbox311(cfg)
    async with svc.db.write() as session:  # the instance committed it and died before sending
        offer_outbox_lease(session, _lease(owner="died", seconds=1.0))
        await enqueue_outbox_row(session=session, **_reply(1))
    await svc.start()
    try:
        [message] = await sink.handler.wait_for(1, within=15)
        assert message["Message-ID"] == "<m1@city.example>"
        for _ in range(100):
            if await _states(svc.db) == {1: (OutboxState.SENT, 2)}:  # the attempt it began, and this one
                break
            await asyncio.sleep(0.05)
        assert await _states(svc.db) == {1: (OutboxState.SENT, 2)}
        assert len(sink.handler.envelopes) == 1
    finally:
        await svc.stop()
