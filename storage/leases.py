"""Leasing queue rows to one worker: pick the claimable ones in the order they became due, mark them held until a
deadline.

The raw inbox and the outbox are both such queues. A row whose holder died is claimable again once its lease runs
out; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances claim side by side without waiting on each other.
On SQLite, where this process is the only writer while it claims, one `UPDATE .. WHERE id IN (the first claimable)
RETURNING` row of every column does it, built once per queue and run on the cursor (storage/sqlite_direct.py).

A queue says which rows are claimable as alternatives ("pending", "held past its lease"), each with the column
that orders it. Each alternative is asked for its first `limit` rows on its own and the first of those are taken
(a `UNION ALL`), so each reads its index in order and stops: asked as one `OR` ordered by id, the database reads
every claimable row and sorts them all, and a backlog (an import of a big mbox, a relay down for an hour) made
each claim slower the more there was to catch up on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Executable, Select, bindparam, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import execute_core
from storage.db import as_loaded
from storage.sqlite_direct import prepared

Row = TypeVar("Row")


@dataclass(frozen=True, eq=False)
class Claimable:
    """One alternative of a queue's claimable rows: a condition, and the column its rows are taken in order of
    (with the id after it). Built once per queue; statements are cached by its identity."""

    condition: ColumnElement[bool]
    due: ColumnElement[Any]


def _first(model: Any, ways: tuple[Claimable, ...], *, for_update: bool) -> Select[Any]:
    """The ids of the first `limit` claimable rows."""
    table = model.__table__
    limit = bindparam("limit")
    each = []
    for way in ways:
        part = select(table.c.id, way.due.label("due")).where(way.condition).order_by(way.due, table.c.id).limit(limit)
        if for_update:
            part = part.with_for_update(skip_locked=True)
        # a subquery each: neither database takes ORDER BY and LIMIT in a UNION's parts, nor PostgreSQL FOR UPDATE
        each.append(select(part.subquery()))
    either = union_all(*each).subquery() if len(each) > 1 else each[0].subquery()
    return select(either.c.id).order_by(either.c.due, either.c.id).limit(limit)


@functools.cache
def _sqlite_claim(model: Any, ways: tuple[Claimable, ...]) -> Executable:
    table = model.__table__
    return prepared(
        update(table)
        .where(table.c.id.in_(_first(model, ways, for_update=False).scalar_subquery()))
        .values(
            state=bindparam("held_state"),
            lease_owner=bindparam("owner"),
            lease_until=bindparam("lease_until"),
            attempts=table.c.attempts + 1,
        )
        .returning(*table.c)
    )


@functools.cache
def _pg_pick(model: Any, ways: tuple[Claimable, ...]) -> Executable:
    # An alternative's rows beyond the first `limit` of all stay locked until the claim commits, a moment later;
    # another instance's claim meanwhile skips them and takes the next.
    return _first(model, ways, for_update=True)


async def claim_rows(
    *,
    session: AsyncSession,
    model: type[Row],
    claimable: tuple[Claimable, ...],
    params: dict[str, Any],
    held_state: str,
    owner: str,
    limit: int,
    lease_until: datetime,
) -> list[Row]:
    """Lease to `owner` the first `limit` rows of `model` that are `claimable` (alternatives built once, their values
    bound from `params`): state `held_state`, attempts + 1. They come back sorted by id."""
    table: Any = model  # the queue models share id, state, lease_owner, lease_until and attempts
    values = {**params, "limit": limit}
    if session.bind.dialect.name == "sqlite":
        claim = _sqlite_claim(table, claimable)
        values |= {"held_state": held_state, "owner": owner, "lease_until": lease_until}
        claimed = (await execute_core(session, claim, values)).all()
        return sorted((as_loaded(session, model, row) for row in claimed), key=lambda r: r.id)  # type: ignore[attr-defined]
    ids = list((await session.execute(_pg_pick(table, claimable), values)).scalars())
    if not ids:
        return []
    await session.execute(
        update(table)
        .where(table.id.in_(ids))
        .values(state=held_state, lease_owner=owner, lease_until=lease_until, attempts=table.attempts + 1)
    )
    rows = await session.execute(select(table).where(table.id.in_(ids)).order_by(table.id))
    return list(rows.scalars())
