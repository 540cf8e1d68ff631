"""The hour's reply budgets, per sender and for everyone together, counted in one statement on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.replies import EVERYONE, take_reply_budget

NOON = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)


class Rollback(Exception):
    pass


async def _take(db: Database, address: str, *, per_sender: int = 2, overall: int = 3) -> str | None:
    async with db.write() as session:
        return await take_reply_budget(
            session=session, address=address, per_sender=per_sender, overall=overall, now=NOON
        )


async def _counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return dict((await session.execute(text("SELECT address, count FROM reply_budget"))).all())


async def test_a_sender_past_its_budget_does_not_spend_everyones(db: Database) -> None:
    taken = [await _take(db, "A@resident.example") for _ in range(3)]
    assert taken == [None, None, "budget:sender"]
    assert await _counts(db) == {"a@resident.example": 3, EVERYONE: 2}  # the refused third is not everyone's


async def test_everyones_budget_stops_replies_to_anyone(db: Database) -> None:
    taken = [await _take(db, f"r{n}@resident.example") for n in range(4)]
    assert taken == [None, None, None, "budget:global"]
    assert (await _counts(db))[EVERYONE] == 4


async def test_a_sender_written_as_everyones_row_is_refused_and_counts_nothing(db: Database) -> None:
    assert await _take(db, EVERYONE) == "budget:sender"
    assert await _counts(db) == {}


async def test_a_rolled_back_refusal_leaves_the_counts_as_they_were(db: Database) -> None:
    for _ in range(2):
        await _take(db, "a@resident.example")
    with pytest.raises(Rollback):
        async with db.write() as session:
            spent = await take_reply_budget(
                session=session, address="a@resident.example", per_sender=2, overall=3, now=NOON
            )
            assert spent == "budget:sender"
            raise Rollback
    assert await _counts(db) == {"a@resident.example": 2, EVERYONE: 2}
