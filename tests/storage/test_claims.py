"""Claiming raw rows: the oldest claimable first (pending, or held past the lease), and on SQLite at a cost that
does not grow with the backlog."""

from __future__ import annotations

from datetime import timedelta

from storage.db import Database
from storage.models import RawState, utcnow
from storage.raw import NewRaw, claim_pending, store_raw_batch
from storage.sqlite_session import InlineSession


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
    steps: list[int] = []
    async with db.write() as session:
        assert isinstance(session, InlineSession)
        session.driver_connection().set_progress_handler(lambda: steps.append(1) and 0, 100)
        claimed = await claim_pending(session=session, owner="me", limit=32, lease=timedelta(minutes=5))
        session.driver_connection().set_progress_handler(None, 0)
        await session.rollback()  # the next measure sees the same backlog again
    assert len(claimed) == 32
    return len(steps)


async def test_a_claim_on_sqlite_costs_the_same_with_a_small_or_a_large_backlog(sqlite_db: Database) -> None:
    small = await _claim_steps(sqlite_db, 200)
    large = await _claim_steps(sqlite_db, 4000)  # 4,200 waiting: one OR of the two kinds read them all
    assert large < small * 1.5 + 10, (small, large)
