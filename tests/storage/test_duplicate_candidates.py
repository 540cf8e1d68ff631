"""The candidate search for duplicates: by box or normalised place when the report has one, by recency otherwise,
only ever among open tickets that are not duplicates themselves, through an index of those alone (so that the years
of closed tickets a category gathers do not slow it); and the migration that gives tickets stored before it their
place key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from parsers.location import place_columns
from parsers.types import GeoPoint, Location
from storage.db import Database, upgrade_sync
from storage.duplicates import list_open_tickets_of_category
from storage.models import Ticket, TicketStatus, utcnow
from storage.sqlite_session import InlineSession
from storage.tickets import create_ticket
from tests.storage.sqlite_steps import vm_steps_of

ADDISON = Location("1420 W Addison St", "address", 0.9)
ADDISON_AGAIN = Location("1420 West Addison Street", "address", 0.9)
BELMONT = Location("Clark St & Belmont Ave", "intersection", 0.85)


async def _ticket(db: Database, category: str, location: Location | None, **fields: object) -> int:
    async with db.write() as session:
        ticket = await create_ticket(
            session=session, prefix="SR", channel="email", category=category, summary="a report",
            description="words " * 50, **place_columns(location), **({"status": TicketStatus.NEW} | fields),
        )  # fmt: skip
        assert ticket.id is not None
        return ticket.id


async def test_a_placed_report_reads_only_tickets_of_the_same_place(db: Database) -> None:
    same = await _ticket(db, "pothole", ADDISON)
    await _ticket(db, "pothole", BELMONT)
    await _ticket(db, "pothole", None)
    await _ticket(db, "graffiti", ADDISON)
    key = place_columns(ADDISON_AGAIN)["address_key"]
    assert key == place_columns(ADDISON)["address_key"]  # spelled differently, the same place
    async with db.read() as session:
        found = await list_open_tickets_of_category(
            session=session, category="pothole", since=utcnow() - timedelta(days=14), address_key=str(key)
        )
    assert [row.id for row in found] == [same]
    assert found[0].description == ""  # placed reports are never compared by words: the text is not read


async def test_a_point_finds_tickets_in_its_box_or_at_its_address(db: Database) -> None:
    here = Location("41.9475,-87.6561", "coordinates", 0.9, GeoPoint(41.9475, -87.6561))
    near = await _ticket(
        db, "pothole", Location("41.94755,-87.65615", "coordinates", 0.9, GeoPoint(41.94755, -87.65615))
    )
    await _ticket(db, "pothole", Location("41.96,-87.66", "coordinates", 0.9, GeoPoint(41.96, -87.66)))
    async with db.read() as session:
        found = await list_open_tickets_of_category(
            session=session, category="pothole", since=utcnow() - timedelta(days=14),
            near=(here.point.lat, here.point.lon), radius_m=50,  # type: ignore[union-attr]
        )  # fmt: skip
    assert [row.id for row in found] == [near]


async def test_an_unplaced_report_reads_the_latest_tickets_with_their_words(db: Database) -> None:
    ids = [await _ticket(db, "pothole", loc) for loc in (ADDISON, None, BELMONT)]
    async with db.read() as session:
        found = await list_open_tickets_of_category(
            session=session, category="pothole", since=utcnow() - timedelta(days=14), limit=2
        )
    assert [row.id for row in found] == [ids[2], ids[1]]  # newest first, at most `limit`
    assert all(row.description.startswith("words") for row in found)


async def test_only_open_tickets_that_are_not_duplicates_are_candidates(db: Database) -> None:
    now = utcnow()
    open_ids = [await _ticket(db, "pothole", None, status=status) for status in TicketStatus.OPEN_STATES]
    original = open_ids[0]
    for status in (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.REJECTED):
        await _ticket(db, "pothole", None, status=status)
    await _ticket(db, "pothole", None, status=TicketStatus.DUPLICATE, duplicate_of_id=original)
    await _ticket(db, "pothole", None, status=TicketStatus.NEW, duplicate_of_id=original)  # linked, status not yet
    await _ticket(db, "pothole", None, now=now - timedelta(days=30))  # open, before the window
    await _ticket(db, "graffiti", None)
    async with db.read() as session:
        found = await list_open_tickets_of_category(session=session, category="pothole", since=now - timedelta(days=14))
    assert [row.id for row in found] == open_ids[::-1]


async def _closed_tickets(db: Database, count: int, first: int) -> None:
    """`count` closed potholes and their linked duplicates over the last year, as a city's history gathers them."""
    await _insert_tickets(db, [
        {
            "tracking_number": f"SR-OLD-{first + n}", "reply_token": f"old{first + n}",
            "status": TicketStatus.CLOSED if n % 2 else TicketStatus.DUPLICATE, "description": "words " * 50,
            "address_key": f"{n % 500} main st", "lat": 41.9 + (n % 97) / 1e4, "lon": -87.6 - (n % 89) / 1e4,
            "created_at": utcnow() - timedelta(days=365 * (count - n) / count),
        }
        for n in range(count)
    ])  # fmt: skip


async def _insert_tickets(db: Database, rows: list[dict[str, Any]]) -> None:
    """Potholes reported by email, written in one statement: each row's own columns over these."""
    now = utcnow()
    common = {"public_token": "t", "channel": "email", "category": "pothole", "summary": "a report",
              "description": "", "created_at": now, "updated_at": now, "last_activity_at": now}  # fmt: skip
    async with db.write() as session:
        await session.execute(sa.insert(Ticket), [common | row for row in rows])


SHAPES = {  # the candidate searches of a report: with a map pin, at an address, with no place
    "point": {"near": (41.9475, -87.6561), "radius_m": 50.0},
    "address": {"address_key": "1420 w addison st"},
    "none": {},
}


async def _search_steps(db: Database, shape: dict[str, Any]) -> int:
    """SQLite's virtual machine steps (in hundreds) of one candidate search."""
    since = utcnow() - timedelta(days=14)
    steps, _ = await vm_steps_of(
        db, lambda session: list_open_tickets_of_category(session=session, category="pothole", since=since, **shape)
    )
    return steps


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_search_on_sqlite_costs_the_same_after_a_short_or_a_long_history(
    sqlite_db: Database, shape: str
) -> None:
    for n in range(20):
        await _ticket(sqlite_db, "pothole", ADDISON if n % 2 else None)
    await _closed_tickets(sqlite_db, 200, 0)
    short = await _search_steps(sqlite_db, SHAPES[shape])
    await _closed_tickets(sqlite_db, 8000, 200)
    long = await _search_steps(sqlite_db, SHAPES[shape])
    assert long < short * 1.5 + 10, (short, long)  # the whole category read: about 30 times as many


async def _explain(db: Database, shape: dict[str, Any]) -> str:
    """The plan the database makes for one candidate search, with the values it was given."""
    since = utcnow() - timedelta(days=14)
    seen: list[tuple[str, Any]] = []
    async with db.write() as session:
        if isinstance(session, InlineSession):  # SQLite, statements on the driver's cursor: traced with their values
            connection = session.driver_connection()
            connection.set_trace_callback(lambda sql: seen.append((sql, ())))
            await list_open_tickets_of_category(session=session, category="pothole", since=since, **shape)
            connection.set_trace_callback(None)
            rows = connection.execute("EXPLAIN QUERY PLAN " + seen[-1][0]).fetchall()
        else:

            def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                seen.append((statement, parameters))

            sa.event.listen(db.sync_engine, "before_cursor_execute", record)
            try:
                await list_open_tickets_of_category(session=session, category="pothole", since=since, **shape)
            finally:
                sa.event.remove(db.sync_engine, "before_cursor_execute", record)
            connection = await session.connection()
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # small table: is the index usable?
            statement, parameters = seen[-1]
            rows = (await connection.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
        await session.rollback()
    return " ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("shape", ["point", "none"])
async def test_a_search_by_point_or_recency_reads_the_index_of_open_tickets(db: Database, shape: str) -> None:
    await _closed_tickets(db, 300, 0)
    assert "ix_ticket_open_category" in await _explain(db, SHAPES[shape])


async def test_a_search_by_address_alone_on_sqlite_costs_the_same_however_busy_the_category(
    sqlite_db: Database,
) -> None:
    """It reads the tickets of that place, not every open ticket of the category (which the partial index holds)."""
    await _ticket(sqlite_db, "pothole", ADDISON)
    await _open_tickets(sqlite_db, 50, 0)
    few = await _search_steps(sqlite_db, SHAPES["address"])
    await _open_tickets(sqlite_db, 3000, 50)
    many = await _search_steps(sqlite_db, SHAPES["address"])
    assert many < few * 1.5 + 10, (few, many)


async def _open_tickets(db: Database, count: int, first: int) -> None:
    await _insert_tickets(db, [
        {"tracking_number": f"SR-OPEN-{first + n}", "reply_token": f"open{first + n}", "status": TicketStatus.NEW,
         "address_key": f"{n} elsewhere st"}
        for n in range(count)
    ])  # fmt: skip


def test_the_migration_gives_existing_tickets_their_place_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade_sync(url, "0005")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    now = utcnow()
    with engine.begin() as conn:
        for n, (address, kind) in enumerate([(ADDISON.text, "address"), (BELMONT.text, "intersection"), (None, None)]):
            conn.execute(
                sa.text(
                    "INSERT INTO ticket (tracking_number, public_token, reply_token, status, channel, priority,"
                    " summary, description, address, location_source, needs_review, created_at, updated_at,"
                    " last_activity_at)"
                    " VALUES (:n, 't', :r, 'new', 'email', 'normal', '', '', :a, :k, 0, :now, :now, :now)"
                ),
                {"n": f"SR-2026-{n:06d}", "r": f"r{n}", "a": address, "k": kind, "now": now},
            )
    upgrade_sync(url)
    with engine.begin() as conn:
        keys = [row[0] for row in conn.execute(sa.text("SELECT address_key FROM ticket ORDER BY id"))]
    engine.dispose()
    assert keys == [place_columns(ADDISON)["address_key"], place_columns(BELMONT)["address_key"], None]
    assert keys[0] and keys[1]
