"""SQLite's search index takes new tickets shortly after they are written, on a thread of its own, and stays exact:
a search after `catch_up_search` finds every ticket, the words of a ticket changed before its turn are indexed as
they are then, and FTS5's own integrity check passes after every kind of change."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import sqlite_search
from storage.db import Database, sqlite_file_of, upgrade_sync
from storage.inbox import InboxFilter, list_inbox
from storage.tickets import create_ticket, touch_ticket


async def _new(db: Database, summary: str) -> int:
    async with db.write() as session:
        ticket = await create_ticket(session=session, prefix="SR", channel="email", summary=summary)
    assert ticket.id is not None
    return ticket.id


async def _found(db: Database, words: str) -> list[int]:
    async with db.read() as session:
        page = await list_inbox(session=session, filters=InboxFilter(query=words), after=None, limit=50)
    return sorted(row.id for row in page.rows)


def _sqlite(db: Database) -> sqlite3.Connection:
    path = sqlite_file_of(db.url)
    assert path is not None
    return sqlite3.connect(path)


def _integrity_check(db: Database) -> None:
    conn = _sqlite(db)
    try:  # raises "database disk image is malformed" when the index and the tickets disagree
        conn.execute("INSERT INTO ticket_fts(ticket_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


def _indexed_up_to(db: Database) -> int:
    conn = _sqlite(db)
    try:
        return int(conn.execute("SELECT last_ticket_id FROM ticket_search_state").fetchone()[0])
    finally:
        conn.close()


async def test_a_new_ticket_is_found_once_caught_up_and_not_indexed_in_its_own_transaction(sqlite_db: Database) -> None:
    first = await _new(sqlite_db, "Hubcap in a pothole on Elm")
    assert _indexed_up_to(sqlite_db) < first  # the ticket's transaction did not index it
    await sqlite_db.catch_up_search()
    assert await _found(sqlite_db, "hubcap") == [first]
    assert _indexed_up_to(sqlite_db) == first
    _integrity_check(sqlite_db)


async def test_new_tickets_are_indexed_soon_without_asking(sqlite_db: Database) -> None:
    made = await _new(sqlite_db, "Streetlight flickering on Oak")
    for _ in range(int(4 / 0.05)):  # CATCH_UP_SECONDS after the write, on a busy machine
        if _indexed_up_to(sqlite_db) >= made:
            break
        await asyncio.sleep(0.05)
    assert await _found(sqlite_db, "streetlight") == [made]


async def test_words_changed_before_and_after_indexing_are_what_is_found(sqlite_db: Database) -> None:
    early = await _new(sqlite_db, "Graffiti on the bridge")
    async with sqlite_db.write() as session:  # changed before its turn: indexed with these words only
        await touch_ticket(session=session, ticket_id=early, summary="Mural on the bridge")
    await sqlite_db.catch_up_search()
    later = await _new(sqlite_db, "Pothole by the school")
    await sqlite_db.catch_up_search()
    async with sqlite_db.write() as session:  # changed once indexed: the trigger re-indexes it
        await touch_ticket(session=session, ticket_id=later, summary="Sinkhole by the school")
    assert await _found(sqlite_db, "graffiti") == []
    assert await _found(sqlite_db, "mural") == [early]
    assert await _found(sqlite_db, "pothole") == []
    assert await _found(sqlite_db, "sinkhole") == [later]
    assert await _found(sqlite_db, "bridge") == [early]
    _integrity_check(sqlite_db)


async def test_a_backlog_is_indexed_in_batches(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_search, "BATCH", 3)
    made = [await _new(sqlite_db, f"Abandoned car number {n}") for n in range(7)]
    await sqlite_db.catch_up_search()
    assert await _found(sqlite_db, "abandoned") == made
    assert sqlite_db.search_index is not None and sqlite_db.search_index.indexed == 7
    _integrity_check(sqlite_db)


async def test_a_process_indexes_what_it_wrote_as_it_closes(sqlite_url: str) -> None:
    writer = Database(sqlite_url)
    made = await _new(writer, "Fallen tree across Maple")
    await writer.dispose()  # (a CLI import ending) before the catch-up's delay
    reader = Database(sqlite_url)
    assert await _found(reader, "maple") == [made]
    await reader.dispose()


async def test_the_web_search_catches_up_first_on_postgresql_nothing_to_do(pg_url: str) -> None:
    db = Database(pg_url)
    made = await _new(db, "Broken bench in the park")
    await db.catch_up_search()  # PostgreSQL's index is in the ticket's own transaction
    assert db.search_index is None and await _found(db, "bench") == [made]
    await db.dispose()


def test_the_migration_keeps_the_existing_index_and_records_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade_sync(url, "0007")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        for n, summary in enumerate(["Pothole on Main", "Graffiti on Second"], start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO ticket (tracking_number, public_token, reply_token, status, channel, priority,"
                    " summary, description, needs_review, created_at, updated_at, last_activity_at)"
                    " VALUES (:n, 't', :r, 'new', 'email', 'normal', :s, '', 0, :now, :now, :now)"
                ),
                {"n": f"SR-2026-{n:06d}", "r": f"r{n}", "s": summary, "now": "2026-12-04 12:00:00.000000"},
            )  # (indexed by the trigger of migration 0003)
    upgrade_sync(url)
    with engine.begin() as conn:
        last = conn.execute(sa.text("SELECT last_ticket_id FROM ticket_search_state")).scalar_one()
        found = conn.execute(sa.text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH 'graffiti'")).all()
        conn.execute(sa.text("UPDATE ticket SET summary = 'Mural on Second' WHERE id = 2"))  # kept in step
        mural = conn.execute(sa.text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH 'mural'")).all()
        conn.execute(sa.text("INSERT INTO ticket_fts(ticket_fts, rank) VALUES ('integrity-check', 1)"))
    engine.dispose()
    assert last == 2 and [r[0] for r in found] == [2] and [r[0] for r in mural] == [2]
