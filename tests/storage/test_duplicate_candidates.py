"""The candidate search for duplicates: by box or normalised place when the report has one, by recency otherwise;
and the migration that gives tickets stored before it their place key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from parsers.location import place_columns
from parsers.types import GeoPoint, Location
from storage.db import Database, upgrade_sync
from storage.duplicates import list_open_tickets_of_category
from storage.models import TicketStatus, utcnow
from storage.tickets import create_ticket

ADDISON = Location("1420 W Addison St", "address", 0.9)
ADDISON_AGAIN = Location("1420 West Addison Street", "address", 0.9)
BELMONT = Location("Clark St & Belmont Ave", "intersection", 0.85)


async def _ticket(db: Database, category: str, location: Location | None, **fields: object) -> int:
    async with db.write() as session:
        ticket = await create_ticket(
            session=session, prefix="SR", status=TicketStatus.NEW, channel="email", category=category,
            summary="a report", description="words " * 50, **place_columns(location), **fields,
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
