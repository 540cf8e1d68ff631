"""Replies queued under a sender's lease offer: written already leased to it, and kept for it until the commit."""

from __future__ import annotations

from datetime import timedelta

from storage.db import Database
from storage.models import OutboxState, utcnow
from storage.outbox import (
    OutboxLease,
    claim_due_outbox,
    enqueue_outbox_row,
    get_outbox,
    offer_outbox_lease,
    take_leased_outbox,
)


def _reply(n: int, channel: str = "email") -> dict:
    payload = {"headers": {"Subject": f"Re: report {n}"}, "text": f"reply {n}"}
    return {"channel": channel, "kind": "ack", "recipient": f"r{n}@resident.example", "payload": payload,
            "message_id": f"m{n}@city"}  # fmt: skip


async def test_offered_rows_are_written_leased_and_kept_for_the_sender(db: Database) -> None:
    until = utcnow() + timedelta(seconds=60)
    async with db.write() as session:
        offer_outbox_lease(session, OutboxLease(owner="sender-a", channels=frozenset({"email"}), until=until))
        first = await enqueue_outbox_row(session=session, **_reply(1))
        texted = await enqueue_outbox_row(session=session, **_reply(2, channel="sms"))  # not the sender's channel
        second = await enqueue_outbox_row(session=session, **_reply(3))
        leased = take_leased_outbox(session)
        assert take_leased_outbox(session) == []  # taken once
    assert [r.id for r in leased] == [first, second]
    assert leased[0].payload == _reply(1)["payload"] and leased[0].recipient == "r1@resident.example"
    assert leased[1].attempts == 1 and leased[1].lease_owner == "sender-a" and leased[1].state == OutboxState.SENDING
    async with db.read() as session:
        stored = await get_outbox(session=session, outbox_id=first)
        other = await get_outbox(session=session, outbox_id=texted)
    assert stored is not None and other is not None
    assert (stored.state, stored.lease_owner, stored.attempts) == (OutboxState.SENDING, "sender-a", 1)
    assert stored.lease_until is not None and abs((stored.lease_until - until).total_seconds()) < 0.001
    assert (other.state, other.lease_owner, other.attempts) == (OutboxState.PENDING, None, 0)


async def test_without_an_offer_rows_are_pending_for_a_claim(db: Database) -> None:
    async with db.write() as session:
        outbox_id = await enqueue_outbox_row(session=session, **_reply(1))
        assert take_leased_outbox(session) == []
    async with db.write() as session:
        [claimed] = await claim_due_outbox(
            session=session, owner="sender-a", channels=("email",), limit=10, lease=timedelta(seconds=60)
        )
    assert claimed.id == outbox_id and claimed.attempts == 1


async def test_a_leased_row_is_claimed_by_no_one_until_its_lease_ends(db: Database) -> None:
    """What keeps a reply from going out twice: the lease; and what keeps it from being lost: its end."""
    async with db.write() as session:
        lease = OutboxLease(owner="died", channels=frozenset({"email"}), until=utcnow() + timedelta(seconds=30))
        offer_outbox_lease(session, lease)
        outbox_id = await enqueue_outbox_row(session=session, **_reply(1))
    lease_args = {"owner": "other", "channels": ("email",), "limit": 10, "lease": timedelta(seconds=60)}
    async with db.write() as session:
        assert await claim_due_outbox(session=session, **lease_args) == []
    async with db.write() as session:
        later = utcnow() + timedelta(seconds=31)
        [claimed] = await claim_due_outbox(session=session, now=later, **lease_args)
    assert claimed.id == outbox_id and claimed.lease_owner == "other" and claimed.attempts == 2


async def test_rolled_back_rows_are_neither_written_nor_kept(db: Database) -> None:
    lease = OutboxLease(owner="sender-a", channels=frozenset({"email"}), until=utcnow() + timedelta(seconds=60))
    try:
        async with db.write() as session:
            offer_outbox_lease(session, lease)
            await enqueue_outbox_row(session=session, **_reply(1))
            raise RuntimeError("a later step failed")
    except RuntimeError:
        pass
    async with db.write() as session:
        assert take_leased_outbox(session) == []  # a new transaction starts with nothing kept
        assert await claim_due_outbox(
            session=session, owner="x", channels=("email",), limit=10, lease=timedelta(seconds=1),
            now=utcnow() + timedelta(hours=1),
        ) == []  # fmt: skip
