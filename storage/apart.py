"""Counters bumped apart from the caller's transaction on PostgreSQL: tracking numbers and reply budgets.

Every ticket takes the next number of its year, and every automatic reply counts against the hour's budget of
everyone together: single-row upserts that each pipeline transaction makes. Made inside that transaction, the
row's lock is held until its commit, so concurrent transactions (two instances, or a web report beside the
pipeline) queue behind each other for nearly all of it: two instances on one database made no more tickets a
second than one. Made in a statement of their own, on a connection of their own in autocommit, the lock lasts one
statement. A transaction that rolls back gives its bumps back before its rollback (`give_back`, which
`Database.write` calls): a number goes back only while it is still the latest one taken, so numbers stay unique and
rising, and a gap is left only where another transaction took a later number in between. On SQLite, which has one
writer at a time whatever we do, the counters stay in the caller's transaction and roll back with it.

The connection commits without waiting for its WAL flush: whatever used a counter's value commits after it, and
PostgreSQL flushes its WAL in order, so a ticket that survives a crash never has a number that did not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Engine, Executable, Result, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from storage.core import execute_core
from storage.sqlite_direct import DirectResult

log = logging.getLogger(__name__)

_UNDO = "apart-undo"  # session.info: how to give back each bump of the transaction, in the order they were made


class _ApartConnection:
    """One autocommit connection per engine, its statements one at a time (each is a single short upsert)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._turn = asyncio.Lock()

    async def execute(self, statement: Executable, params: dict[str, Any]) -> Result[Any]:
        async with self._turn:
            try:
                return await self._execute(statement, params)
            except DBAPIError as exc:
                await self.close()
                if not exc.connection_invalidated:
                    raise
            except BaseException:  # (cancelled mid-statement) its state is unknown: the next one opens anew
                await self.close()
                raise
            # The server restarted or dropped the idle connection. Once more on a new one: had the first reached
            # the server after all, the counter skips a value, which numbers and budgets allow.
            try:
                return await self._execute(statement, params)
            except BaseException:
                await self.close()
                raise

    async def _execute(self, statement: Executable, params: dict[str, Any]) -> Result[Any]:
        if self._connection is None:
            self._connection = await self._open()
        return await self._connection.execute(statement, params)  # (asyncpg's rows come buffered)

    async def _open(self) -> AsyncConnection:
        connection = await self._engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("SET synchronous_commit TO off")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # (closing a broken connection) nothing is left to release
                await connection.invalidate()


_apart: dict[Engine, _ApartConnection] = {}  # by the engine proxied (an AsyncEngine is a proxy of it)


async def execute_apart(
    session: AsyncSession, statement: Executable, params: dict[str, Any]
) -> Result[Any] | DirectResult:
    """Run a counter's upsert committed on its own at once (PostgreSQL), or in the session's transaction (SQLite)."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine):  # SQLite: the inline session's engine, one writer at a time
        return await execute_core(session, statement, params)
    apart = _apart.get(engine.sync_engine)
    if apart is None:
        apart = _apart[engine.sync_engine] = _ApartConnection(engine)
    return await apart.execute(statement, params)


async def close_apart(engine: object) -> None:
    """Close the engine's counter connection, if it has one (before the engine is disposed)."""
    apart = _apart.pop(engine.sync_engine, None) if isinstance(engine, AsyncEngine) else None
    if apart is not None:
        await apart.close()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_UNDO, None)  # what a commit kept is never given back, whatever fails after it


def undo_on_rollback(session: AsyncSession, statement: Executable, params: dict[str, Any]) -> None:
    """How to give back what `execute_apart` just bumped, should the session's transaction roll back (PostgreSQL;
    on SQLite the bump rolls back with the transaction)."""
    if isinstance(session.bind, AsyncEngine):
        session.info.setdefault(_UNDO, []).append((statement, params))


async def give_back(session: AsyncSession) -> None:
    """Undo the transaction's bumps, latest first. Called only when the transaction's own work failed (never when
    its commit did: that commit may have happened, and its numbers must then never be given out again)."""
    undo = session.info.pop(_UNDO, None)
    apart = _apart.get(session.bind.sync_engine) if undo and isinstance(session.bind, AsyncEngine) else None
    if apart is None:
        return
    for statement, params in reversed(undo):
        try:
            await apart.execute(statement, params)
        except Exception:  # the database is away: what is left stays counted (a gap, a stricter budget)
            log.warning("could not give back a counter of a rolled-back transaction", exc_info=True)
            return
