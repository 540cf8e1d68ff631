"""Tracking numbers and reply budgets under concurrent transactions (storage/apart.py).

On PostgreSQL the counters are bumped in statements of their own, so one transaction's lock on a counter row never
holds up another transaction (two instances, or a web report beside the pipeline), and a transaction that fails
gives its bumps back; on SQLite they stay in the transaction and roll back with it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database
from storage.replies import take_reply_budget
from storage.tickets import create_ticket


class Rollback(Exception):
    pass


async def test_two_transactions_take_numbers_and_budgets_without_waiting_for_each_other(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        async with db.write() as first:
            one = await create_ticket(session=first, prefix="SR", channel="email", summary="first")
            assert await take_reply_budget(session=first, address="a@resident.example", per_sender=5, overall=9) is None
            async with db.write() as second:  # `first` is still open, holding whatever it locked
                two = await asyncio.wait_for(
                    create_ticket(session=second, prefix="SR", channel="email", summary="second"), 5
                )
                spent = await asyncio.wait_for(
                    take_reply_budget(session=second, address="b@resident.example", per_sender=5, overall=9), 5
                )
        async with db.read() as session:
            budgets = dict((await session.execute(text("SELECT address, count FROM reply_budget"))).all())
    finally:
        await db.dispose()
    assert spent is None
    assert one.tracking_number.endswith("-000001") and two.tracking_number.endswith("-000002")
    assert budgets == {"a@resident.example": 1, "b@resident.example": 1, "*": 2}


async def test_a_rolled_back_transaction_gives_its_number_and_reply_count_back(db: Database) -> None:
    async with db.write() as session:
        first = await create_ticket(session=session, prefix="SR", channel="email", summary="kept")
    with pytest.raises(Rollback):
        async with db.write() as session:
            await create_ticket(session=session, prefix="SR", channel="email", summary="rolled back")
            await create_ticket(session=session, prefix="SR", channel="email", summary="rolled back too")
            await take_reply_budget(session=session, address="a@resident.example", per_sender=5, overall=9)
            raise Rollback
    async with db.write() as session:
        after = await create_ticket(session=session, prefix="SR", channel="email", summary="kept too")
    async with db.read() as session:
        budgets = (await session.execute(text("SELECT count(*), coalesce(sum(count), 0) FROM reply_budget"))).one()
    assert first.tracking_number.endswith("-000001") and after.tracking_number.endswith("-000002")
    assert tuple(budgets) in {(0, 0), (2, 0)}  # no row (SQLite: rolled back) or rows counting nothing


async def test_a_number_taken_later_by_another_transaction_is_never_given_out_twice(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        with pytest.raises(Rollback):
            async with db.write() as failing:
                mine = (
                    await create_ticket(session=failing, prefix="SR", channel="email", summary="gone")
                ).tracking_number
                async with db.write() as other:
                    theirs = await create_ticket(session=other, prefix="SR", channel="email", summary="kept")
                raise Rollback
        async with db.write() as session:
            after = await create_ticket(session=session, prefix="SR", channel="email", summary="after")
    finally:
        await db.dispose()
    assert mine.endswith("-000001") and theirs.tracking_number.endswith("-000002")
    assert after.tracking_number.endswith("-000003")  # 1 stays a gap: giving it back would have undone 2


async def test_the_counter_connection_comes_back_after_the_server_drops_it(pg_url: str) -> None:
    db = Database(pg_url)
    admin = create_async_engine(pg_url)
    try:
        async with db.write() as session:
            await create_ticket(session=session, prefix="SR", channel="email", summary="before")
        async with admin.connect() as connection:  # as a server restart would: every other session of the database
            dropped = await connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert dropped.scalar_one() >= 1
        async with db.write() as session:
            after = await create_ticket(session=session, prefix="SR", channel="email", summary="after")
    finally:
        await admin.dispose()
        await db.dispose()
    assert after.tracking_number.endswith("-000002")


async def test_what_a_commit_kept_is_never_given_back(db: Database) -> None:
    with pytest.raises(Rollback):
        async with db.write() as session:
            kept = await create_ticket(session=session, prefix="SR", channel="email", summary="committed")
            number = kept.tracking_number
            await session.commit()  # (no caller does this today; if one does, its numbers stay taken)
            raise Rollback
    async with db.write() as session:
        after = await create_ticket(session=session, prefix="SR", channel="email", summary="after")
    assert number.endswith("-000001") and after.tracking_number.endswith("-000002")
