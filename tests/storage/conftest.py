"""Fixtures of the storage tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

import storage.events
from storage.db import Database
from storage.tickets import create_ticket


@pytest.fixture
async def ticket_id(db: Database) -> int:
    """A new ticket in the test's database, committed."""
    async with db.write() as session:
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
    assert ticket.id is not None
    return ticket.id


@pytest.fixture
def event_inserts(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per statement that writes audit events (of one row or of many), on both of the ways one reaches
    the database: through the engine, and on SQLite's cursor directly (`write_kept_events` there)."""
    inserts: list[int] = []
    event.listen(
        db.sync_engine,
        "before_cursor_execute",
        lambda conn, cur, sql, params, ctx, many: inserts.append(1) if sql.startswith("INSERT INTO event") else None,
    )
    direct = storage.events.run_direct

    def counted(connection: Any, statement: Any, params: Any, dialect: Any) -> Any:
        result = direct(connection, statement, params, dialect)
        if result is not None and statement is storage.events._ADD_EVENT:
            inserts.append(1)
        return result

    monkeypatch.setattr(storage.events, "run_direct", counted)
    return inserts
