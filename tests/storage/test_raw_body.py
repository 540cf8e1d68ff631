"""The bytes of a raw message are written once, into `raw_body`: claiming and settling its row leave them alone, and
the migration that moved them there keeps every stored message."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url

from storage import sqlite_checkpoint
from storage.db import Database, alembic_config, upgrade_sync
from storage.raw import NewRaw, claim_pending, read_raw_bodies, settle_done, store_raw_batch

BEFORE_SPLIT = "0009"  # the last revision with the bytes in raw_inbound


async def test_claiming_and_settling_a_large_message_leaves_its_bytes_unwritten(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured in the WAL: on SQLite a change to any column of a row writes the whole row again, overflow pages and
    all, so with the bytes in the queue row each of these two steps wrote twice the message's size."""
    monkeypatch.setattr(sqlite_checkpoint, "IDLE_SECONDS", 3600.0)  # no checkpoint resets the log while we measure
    monkeypatch.setattr(sqlite_checkpoint, "EVERY_BYTES", 1 << 40)
    photo_mail = os.urandom(4 * 1024 * 1024)  # random: nothing on the way compresses it
    async with sqlite_db.write() as session:
        await store_raw_batch(session=session, items=[NewRaw("email", "smtp", "big@x", photo_mail, "big@x")])
    path = make_url(sqlite_db.url).database
    assert path is not None
    with closing(sqlite3.connect(path)) as conn:  # the log starts empty, so its size is what follows writes
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    wal = Path(f"{path}-wal")
    assert (await asyncio.to_thread(wal.stat)).st_size == 0

    async with sqlite_db.write() as session:
        [row] = await claim_pending(session=session, owner="me", limit=1, lease=timedelta(minutes=1))
        assert row.id is not None
        bodies = await read_raw_bodies(session=session, raw_ids=[row.id])
    async with sqlite_db.write() as session:
        assert await settle_done(session=session, owner="me", done=[(row.id, None)])

    assert bodies == {row.id: photo_mail}
    # A few pages of the queue row and its index, where the bytes in the row made it about 16 MB.
    assert (await asyncio.to_thread(wal.stat)).st_size < 64 * 1024


# ---- the migration ----------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    dsn: str = request.getfixturevalue("pg_dsn")
    name = f"inbox311_m_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(dsn.replace("+asyncpg", "+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _insert_old_row(conn: sa.Connection, key: str, raw: bytes) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO raw_inbound (channel, source, idempotency_key, envelope_from, envelope_to, raw, size, state,"
            " attempts, received_at) VALUES ('email', 'smtp', :key, '', '', :raw, :size, :state, 0, :now)"
        ),
        {"key": key, "raw": raw, "size": len(raw), "state": "done" if key == "a" else "pending",
         "now": datetime.now(UTC)},
    )  # fmt: skip


def test_the_upgrade_moves_every_stored_message_and_the_downgrade_puts_it_back(empty_url: str) -> None:
    stored = {"a": b"Subject: a\r\n\r\nfirst\r\n", "b": os.urandom(300_000), "c": b""}
    upgrade_sync(empty_url, BEFORE_SPLIT)
    engine = sa.create_engine(empty_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg"))
    try:
        with engine.begin() as conn:
            for key, raw in stored.items():
                _insert_old_row(conn, key, raw)

        upgrade_sync(empty_url, "head")
        with engine.connect() as conn:
            moved = conn.execute(
                sa.text("SELECT r.idempotency_key, b.raw FROM raw_body b JOIN raw_inbound r ON r.id = b.raw_id")
            ).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("raw_inbound")}
        assert {key: bytes(raw) for key, raw in moved} == stored
        assert "raw" not in columns and {"size", "state", "idempotency_key"} <= columns

        command.downgrade(alembic_config(empty_url), BEFORE_SPLIT)
        with engine.connect() as conn:
            back = conn.execute(sa.text("SELECT idempotency_key, raw FROM raw_inbound")).all()
            tables = set(sa.inspect(conn).get_table_names())
        assert {key: bytes(raw) for key, raw in back} == stored
        assert "raw_body" not in tables
    finally:
        engine.dispose()
