"""How much work SQLite does for one call, counted in its virtual machine's steps: a measure of cost that does not
move with the machine, for tests that a query stays as cheap however much data lies beside what it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.sqlite_session import InlineSession


async def vm_steps_of(db: Database, call: Callable[[AsyncSession], Awaitable[list[Any]]]) -> tuple[int, list[int]]:
    """SQLite's virtual machine steps (in hundreds) for `call` in a transaction rolled back afterwards, so the next
    measure sees the same data again; and the ids of the rows it returned."""
    steps: list[int] = []
    async with db.write() as session:
        assert isinstance(session, InlineSession)
        session.driver_connection().set_progress_handler(lambda: steps.append(1) and 0, 100)
        rows = await call(session)
        session.driver_connection().set_progress_handler(None, 0)
        ids = [row.id for row in rows]
        await session.rollback()
    return len(steps), ids
