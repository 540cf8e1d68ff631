"""Leasing queue rows to one worker: pick the claimable ones oldest first, mark them held until a deadline.

The raw inbox and the outbox are both such queues. A row whose holder died is claimable again once its lease runs
out; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances claim side by side without waiting on each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


async def claim_rows(
    *,
    session: AsyncSession,
    model: type[Row],
    claimable: ColumnElement[bool],
    held_state: str,
    owner: str,
    limit: int,
    lease_until: datetime,
) -> list[Row]:
    """Lease up to `limit` rows of `model` matching `claimable` to `owner`: state `held_state`, attempts + 1."""
    table: Any = model  # the queue models share id, state, lease_owner, lease_until and attempts
    pick = select(table.id).where(claimable).order_by(table.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list((await session.execute(pick)).scalars())
    if not ids:
        return []
    await session.execute(
        update(table)
        .where(table.id.in_(ids))
        .values(state=held_state, lease_owner=owner, lease_until=lease_until, attempts=table.attempts + 1)
    )
    rows = await session.execute(select(table).where(table.id.in_(ids)).order_by(table.id))
    return list(rows.scalars())
