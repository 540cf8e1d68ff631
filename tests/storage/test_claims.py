"""Claiming queue rows: raw rows oldest first (pending, or held past the lease), replies in the order they fell due,
and on SQLite at a cost that does not grow with the backlog."""

from __future__ import annotations

from datetime import timedelta

from storage.db import Database
from storage.models import OutboxState, RawState, utcnow
from storage.outbox import claim_due_outbox, enqueue_outbox_row, get_outbox, mark_outbox_failed, mark_outbox_sent_many
from storage.raw import NewRaw, claim_pending, store_raw_batch
from tests.storage.sqlite_steps import vm_steps_of


def _raws(first: int, count: int) -> list[NewRaw]:
    return [NewRaw(channel="email", source="t", idempotency_key=f"k{n}", raw=b"x") for n in range(first, first + count)]


async def test_rows_held_past_their_lease_come_back_with_the_pending_oldest_first(db: Database) -> None:
    async with db.write() as session:
        stored = [r.raw_id for r in await store_raw_batch(session=session, items=_raws(0, 6))]
    now = utcnow()
    async with db.write() as session:  # a worker that died holding the two oldest
        dead = await claim_pending(session=session, owner="dead", limit=2, lease=timedelta(seconds=1), now=now)
    async with db.write() as session:  # and one alive, holding the next
        alive = await claim_pending(session=session, owner="alive", limit=1, lease=timedelta(minutes=5), now=now)
    later = now + timedelta(seconds=2)
    async with db.write() as session:
        taken = await claim_pending(session=session, owner="me", limit=4, lease=timedelta(minutes=5), now=later)
        again = await claim_pending(session=session, owner="me", limit=4, lease=timedelta(minutes=5), now=later)
    assert [r.id for r in dead] == stored[:2] and [r.id for r in alive] == stored[2:3]
    assert [r.id for r in taken] == stored[:2] + stored[3:5]  # the expired two, then the oldest pending
    assert [r.id for r in again] == stored[5:]
    assert all(r.state == RawState.PROCESSING and r.lease_owner == "me" for r in taken + again)
    assert [r.attempts for r in taken] == [2, 2, 1, 1]


async def _claim_steps(db: Database, backlog: int) -> int:
    """SQLite's virtual machine steps (in hundreds) for one claim of 32 rows with `backlog` rows waiting, some of
    them held past their lease."""
    async with db.write() as session:
        await store_raw_batch(session=session, items=_raws(10_000 * backlog, backlog))
    async with db.write() as session:
        await claim_pending(session=session, owner="dead", limit=backlog // 10, lease=timedelta(seconds=-1))
    steps, claimed = await vm_steps_of(db, lambda s: claim_pending(session=s, owner="me", limit=32,
                                                                 lease=timedelta(minutes=5)))  # fmt: skip
    assert len(claimed) == 32
    return steps


async def test_a_claim_on_sqlite_costs_the_same_with_a_small_or_a_large_backlog(sqlite_db: Database) -> None:
    small = await _claim_steps(sqlite_db, 200)
    large = await _claim_steps(sqlite_db, 4000)  # 4,200 waiting: one OR of the two kinds read them all
    assert large < small * 1.5 + 10, (small, large)


async def _enqueue_replies(db: Database, count: int, channel: str = "email") -> list[int]:
    async with db.write() as session:
        return [
            await enqueue_outbox_row(session=session, channel=channel, kind="ack", recipient="r@resident.example",
                                     payload={"n": n})
            for n in range(count)
        ]  # fmt: skip


async def test_replies_are_taken_in_the_order_they_fell_due(db: Database) -> None:
    start = utcnow()
    ids = await _enqueue_replies(db, 5)
    [sms] = await _enqueue_replies(db, 1, channel="sms")
    minutes = timedelta(minutes=5)
    async with db.write() as session:  # a sender that dies holding the first until start + 11 s
        dead = await claim_due_outbox(session=session, owner="dead", channels=("email",), limit=1,
                                      lease=timedelta(seconds=10), now=start + timedelta(seconds=1))  # fmt: skip
    async with db.write() as session:  # the second fails once and is tried again at start + 5 s
        [failed] = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=1, lease=minutes)
        await mark_outbox_failed(session=session, outbox_id=failed.id, owner="me", error="421 try later",
                                 retry_at=start + timedelta(seconds=5))  # fmt: skip
    async with db.write() as session:
        early = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=9, lease=minutes,
                                       now=start + timedelta(seconds=2))  # fmt: skip
    async with db.write() as session:  # the three released again: back in the queue at their next attempt
        for row in early:
            await mark_outbox_failed(session=session, outbox_id=row.id, owner="me", error="421",
                                     retry_at=row.next_attempt_at)  # fmt: skip
    later = start + timedelta(seconds=20)
    async with db.write() as session:
        first = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=4, lease=minutes,
                                       now=later)  # fmt: skip
        rest = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=4, lease=minutes,
                                      now=later)  # fmt: skip
    assert [r.id for r in dead] == ids[:1] and failed.id == ids[1]
    assert [r.id for r in early] == ids[2:]  # the retried one not due yet, the held one held, no SMS
    assert [r.id for r in first] == ids[1:]  # due at start (three), at start + 5 s; then the lease of start + 11 s
    assert [r.id for r in rest] == ids[:1] and rest[0].attempts == 2
    assert all(r.state == OutboxState.SENDING and r.lease_owner == "me" for r in first + rest)
    async with db.write() as session:
        [taken_sms] = await claim_due_outbox(session=session, owner="me", channels=("sms",), limit=9, lease=minutes,
                                             now=later)  # fmt: skip
    assert taken_sms.id == sms


async def test_sent_replies_are_marked_together_and_only_while_still_held(db: Database) -> None:
    ids = await _enqueue_replies(db, 4)
    now = utcnow()
    async with db.write() as session:  # "me" held these three until its lease ran out; "other" took the third
        mine = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=3,
                                      lease=timedelta(seconds=-1), now=now)  # fmt: skip
        [taken] = await claim_due_outbox(session=session, owner="other", channels=("email",), limit=1,
                                         lease=timedelta(minutes=5), now=now)  # fmt: skip
    assert [r.id for r in mine] == ids[:3] and taken.id == ids[0]
    async with db.write() as session:
        marked = await mark_outbox_sent_many(session=session, owner="me",
                                             sent=[(ids[0], "p0"), (ids[1], "p1"), (ids[2], None)])  # fmt: skip
        nothing = await mark_outbox_sent_many(session=session, owner="me", sent=[])
    assert (marked, nothing) == (2, 0)
    async with db.read() as session:
        rows = [await get_outbox(session=session, outbox_id=i) for i in ids]
    assert [(r.state, r.provider_id, r.lease_owner) for r in rows if r is not None] == [
        (OutboxState.SENDING, None, "other"),  # the new holder's now, left to it
        (OutboxState.SENT, "p1", None),
        (OutboxState.SENT, None, None),
        (OutboxState.PENDING, None, None),
    ]
    assert all(r.sent_at is not None for r in rows[1:3] if r is not None)


async def _outbox_claim_steps(db: Database, backlog: int) -> int:
    """As `_claim_steps`, for the outbox: `backlog` replies due, a tenth of them waiting for a retry later on."""
    await _enqueue_replies(db, backlog)
    async with db.write() as session:
        failing = await claim_due_outbox(session=session, owner="me", channels=("email",), limit=backlog // 10,
                                         lease=timedelta(minutes=5))  # fmt: skip
        for row in failing:
            await mark_outbox_failed(session=session, outbox_id=row.id, owner="me", error="421",
                                     retry_at=utcnow() + timedelta(minutes=5))  # fmt: skip
    steps, claimed = await vm_steps_of(db, lambda s: claim_due_outbox(session=s, owner="me", channels=("email",),
                                                                    limit=32, lease=timedelta(minutes=5)))  # fmt: skip
    assert len(claimed) == 32 and not set(claimed) & {r.id for r in failing}
    return steps


async def test_a_reply_claim_on_sqlite_costs_the_same_with_a_small_or_a_large_backlog(sqlite_db: Database) -> None:
    small = await _outbox_claim_steps(sqlite_db, 200)
    large = await _outbox_claim_steps(sqlite_db, 4000)  # ordered by id, every due reply was read and sorted
    assert large < small * 1.5 + 10, (small, large)
