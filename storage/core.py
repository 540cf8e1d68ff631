"""Core statements run on the session's own connection, for the queries on the pipeline's path.

`session.execute` runs Core statements too, but wraps each in the ORM's handling (compile state, an execution event,
result processing for objects), which for a SELECT of columns costs more than the query itself. `execute_core` runs a
statement of tables and columns (not whole objects) on the connection of the session's transaction and does first
what `session.execute` would have done first: it flushes pending changes to objects, and writes the kept audit events
when the statement may read them (storage/events.py). On SQLite, a statement marked `prepared` (built once) then
runs on the cursor directly (storage/sqlite_direct.py); everything else goes through the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import reads_events, write_kept_events
from storage.sqlite_direct import DirectResult, is_prepared, run_direct
from storage.sqlite_session import InlineSession


async def execute_core(
    session: AsyncSession, statement: Executable, params: Any = None, *, reads_kept_events: bool = False
) -> Result[Any] | DirectResult:
    """Run `statement` in the session's transaction. `reads_kept_events`: the caller looks at the events kept in
    memory itself (`kept_events`), so they need not be written before this statement reads the event table."""
    if not session.sync_session._is_clean():  # (new, dirty and deleted would each build a set only to be tested)
        await session.flush()
    if not reads_kept_events and reads_events(statement):
        await write_kept_events(session)
    if not isinstance(session, InlineSession):  # PostgreSQL
        return await (await session.connection()).execute(statement, params)
    if is_prepared(statement):  # SQLite, a statement built once: on the cursor (storage/sqlite_direct.py)
        direct = run_direct(session.driver_connection(), statement, params, session.bind.dialect)
        if direct is not None:
            return direct
    return (await session.connection()).execute(statement, params)  # SQLite: InlineSession runs it at once


async def rows_changed(session: AsyncSession, statement: Executable, params: Sequence[Mapping[str, Any]]) -> int:
    """How many rows an UPDATE run once for each of `params` changed in all: one executemany where the driver counts
    the rows of one (SQLite), else one statement for each, counted one by one."""
    if not params:
        return 0
    if session.bind.dialect.supports_sane_multi_rowcount:
        return (await execute_core(session, statement, list(params))).rowcount
    changed = 0
    for one in params:
        changed += (await execute_core(session, statement, one)).rowcount
    return changed
