"""The audit log's rows: written at once, or, inside a pipeline transaction, kept and written together.

A message makes three or four events (created, categorised, acknowledged ...). In the pipeline's transactions,
which serve many messages, they are kept in the session and written as one multi-row INSERT before the commit
(`write_kept_events`), in the order they were made. A query that reads the event table in that transaction gets
them written first (see `reads_events`), so nothing reads around them.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection
from typing import Any

from sqlalchemy import Executable, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from storage.models import Event, utcnow
from storage.sqlite_direct import prepared, run_direct
from storage.sqlite_session import InlineSession

_KEPT = "inbox311.kept_events"
_EVENTS = Event.__table__
_ADD_EVENT = prepared(insert(_EVENTS))  # Core, built once: ORM objects for events cost more than the rows


def keep_events(session: AsyncSession) -> None:
    """From now on, this session's events wait for `write_kept_events` (or a read of the event table)."""
    session.info[_KEPT] = []


def kept_events(session: AsyncSession | Session) -> list[dict[str, Any]]:
    """The events made in this transaction and not written yet, oldest first (read-only)."""
    return list(session.info.get(_KEPT) or ())


def kept_events_of(session: AsyncSession | Session, ticket_id: int, actions: Collection[str]) -> list[dict[str, Any]]:
    """The kept events of one ticket with one of `actions`, oldest first: for a query that reads the event table
    without having them written first (`execute_core(..., reads_kept_events=True)`) and adds these itself."""
    return [e for e in session.info.get(_KEPT) or () if e["ticket_id"] == ticket_id and e["action"] in actions]


def _take_kept(session: AsyncSession | Session) -> list[dict[str, Any]]:
    """The kept events, handed over to be written: the session keeps on keeping new ones."""
    kept = session.info.get(_KEPT)
    if kept:
        session.info[_KEPT] = []
    return kept or []


async def write_kept_events(session: AsyncSession) -> None:
    kept = _take_kept(session)
    if not kept:
        return
    if isinstance(session, InlineSession):  # SQLite: on the cursor, one executemany (storage/sqlite_direct.py)
        written = run_direct(session.driver_connection(), _ADD_EVENT, kept, session.bind.dialect)
        if written is not None:
            return
    await session.execute(_ADD_EVENT, kept)


async def add_event(
    *,
    session: AsyncSession,
    ticket_id: int,
    actor: str,
    action: str,
    data: dict[str, Any] | None = None,
    public: bool = False,
) -> None:
    row = {"ticket_id": ticket_id, "actor": actor, "action": action, "data": data or {}, "public": public,
           "created_at": utcnow()}  # fmt: skip
    kept = session.info.get(_KEPT)
    if kept is not None:
        kept.append(row)
    else:
        await session.execute(_ADD_EVENT, row)


@event.listens_for(Session, "do_orm_execute")
def _write_kept_before_reading_them(state: ORMExecuteState) -> None:
    if state.session.info.get(_KEPT) and state.is_select and reads_events(state.statement):
        state.session.execute(_ADD_EVENT, _take_kept(state.session))


# Statements built once are asked about at every execution: the answer is kept with them.
_READS_EVENTS: weakref.WeakKeyDictionary[Executable, bool] = weakref.WeakKeyDictionary()


def reads_events(statement: Executable) -> bool:
    """Whether a query may read events: it selects Event or the event table's columns, or only things of no table
    (a count), which could be counting events. A query on other tables that joins the event table is not
    recognised: write the kept events first (`write_kept_events`) if one is ever needed. (`column_descriptions`
    costs a tenth of a millisecond; working out a query's FROM list costs milliseconds.)"""
    known = _READS_EVENTS.get(statement)
    if known is None:
        known = _READS_EVENTS[statement] = _selects_events(statement)
    return known


def _selects_events(statement: Executable) -> bool:
    descriptions = getattr(statement, "column_descriptions", None)
    if descriptions is None:  # an INSERT, UPDATE or DELETE: no; a compound SELECT (a UNION): it may, say yes
        return bool(getattr(statement, "is_select", False))
    sources = set()
    for column in descriptions:
        source = column.get("entity") or getattr(column.get("expr"), "table", None)
        if source is Event or source is _EVENTS:
            return True
        sources.add(source)
    return sources <= {None}
