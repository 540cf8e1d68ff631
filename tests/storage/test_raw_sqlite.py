"""The raw store's own SQLite connection: rows read back as the engine's would, a lock held by another process is
waited for off the event loop, and the WAL it writes is checkpointed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage import raw_sqlite, sqlite_checkpoint
from storage.db import Database, sqlite_file_of
from storage.models import RawState
from storage.raw import NewRaw, list_raw, read_raw_bodies, store_raw_batch
from storage.raw_sqlite import SqliteRawStore


def _raw(key: str, body: bytes = b"Body=Pothole&From=%2B17735550100") -> NewRaw:
    return NewRaw(channel="sms", source="twilio", idempotency_key=key, raw=body, message_id=key, envelope_from="+1773")


@pytest.fixture
async def store(sqlite_db: Database) -> AsyncIterator[SqliteRawStore]:
    path = sqlite_file_of(sqlite_db.url)
    assert path is not None
    raw_store = SqliteRawStore(sqlite_db, path)
    yield raw_store
    await raw_store.close()


def test_only_a_file_database_gets_a_connection_of_its_own() -> None:
    assert sqlite_file_of("sqlite+aiosqlite:////var/lib/inbox311/db.sqlite") == "/var/lib/inbox311/db.sqlite"
    assert sqlite_file_of("sqlite+aiosqlite:///./var/inbox311.db") == "./var/inbox311.db"
    assert sqlite_file_of("sqlite+aiosqlite://") is None
    assert sqlite_file_of("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file_of("sqlite+aiosqlite:///file:shared?mode=memory&uri=true") is None
    assert sqlite_file_of("postgresql+asyncpg://u:p@localhost/inbox311") is None


async def test_rows_read_back_like_the_engines_and_keys_are_stored_once(
    store: SqliteRawStore, sqlite_db: Database
) -> None:
    async with sqlite_db.write() as session:  # one row through the engine, for comparison
        [engine_row] = await store_raw_batch(session=session, items=[_raw("twilio:SM0")])
    results = await store.store(
        [_raw("twilio:SM1", b"one"), _raw("twilio:SM0"), _raw("twilio:SM2"), _raw("twilio:SM1")]
    )
    assert [r.duplicate for r in results] == [False, True, False, True]
    assert results[1].raw_id is None and results[3].raw_id is None
    again = await store.store([_raw("twilio:SM2"), _raw("twilio:SM3")])
    assert [r.duplicate for r in again] == [True, False]
    async with sqlite_db.read() as session:
        rows = {row.idempotency_key: row for row in await list_raw(session=session)}
        bodies = await read_raw_bodies(session=session, raw_ids=[row.id for row in rows.values() if row.id])
    assert sorted(rows) == ["twilio:SM0", "twilio:SM1", "twilio:SM2", "twilio:SM3"]
    one, reference = rows["twilio:SM1"], rows["twilio:SM0"]
    assert one.id == results[0].raw_id and reference.id == engine_row.raw_id
    assert (one.size, one.state, one.attempts, one.channel) == (3, RawState.PENDING, 0, "sms")
    assert len(bodies) == 4 and bodies[one.id] == b"one" and bodies[reference.id] == _raw("twilio:SM0").raw
    assert (one.envelope_from, one.message_id, one.lease_owner) == ("+1773", "twilio:SM1", None)
    assert type(one.received_at) is type(reference.received_at)
    assert abs((one.received_at - reference.received_at).total_seconds()) < 60
    with closing(sqlite3.connect(make_url(sqlite_db.url).database)) as conn:
        stored_text = conn.execute(
            "SELECT received_at FROM raw_inbound WHERE idempotency_key IN ('twilio:SM0', 'twilio:SM1') ORDER BY id"
        ).fetchall()
    engine_text, store_text = (text for (text,) in stored_text)
    assert len(engine_text) == len(store_text) and store_text[:4] == engine_text[:4]  # one format: SQL compares text


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(
    store: SqliteRawStore, sqlite_db: Database
) -> None:
    await store.store([_raw("twilio:first")])  # the connection is open
    other = sqlite3.connect(make_url(sqlite_db.url).database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a CLI verb in the middle of its write
    try:
        pending = asyncio.create_task(store.store([_raw("twilio:waited")]))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the batch waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done() and ticks == 20
    finally:
        other.execute("COMMIT")
        other.close()
    [result] = await asyncio.wait_for(pending, 10)
    assert not result.duplicate and result.raw_id is not None
    [after] = await store.store([_raw("twilio:after")])  # back on the loop once the lock is free
    assert not after.duplicate


async def test_a_large_batch_is_written_off_the_loop_alike(store: SqliteRawStore, sqlite_db: Database) -> None:
    big = b"x" * (raw_sqlite.INLINE_MAX_BYTES // 2 + 1)  # two of them are over the limit: the store's thread
    results = await store.store([_raw("email:a", big), _raw("email:b", big), _raw("email:a", big)])
    assert [r.duplicate for r in results] == [False, False, True]
    [small] = await store.store([_raw("email:c")])  # and the next small batch is on the loop again
    async with sqlite_db.read() as session:
        rows = {row.idempotency_key: row for row in await list_raw(session=session)}
        bodies = await read_raw_bodies(session=session, raw_ids=[row.id for row in rows.values() if row.id])
    assert rows["email:a"].id == results[0].raw_id and bodies[results[0].raw_id] == big
    assert rows["email:c"].id == small.raw_id and len(rows) == 3


async def test_the_wal_is_checkpointed_off_the_loop_as_the_store_writes(
    store: SqliteRawStore, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoint, "EVERY_BYTES", 64 * 1024)
    monkeypatch.setattr(sqlite_checkpoint, "IDLE_SECONDS", 0.05)  # (the checkpoint after writing pauses)
    wal = Path(f"{make_url(sqlite_db.url).database}-wal")
    body = b"x" * 4000
    checkpointer = sqlite_db.checkpointer
    assert checkpointer is not None
    done = checkpointer.checkpoints
    for batch in range(60):  # 60 x 8 rows x 4 KB: about 2 MB written
        await store.store([_raw(f"twilio:{batch}:{n}", body) for n in range(8)])
        await asyncio.sleep(0.005)  # arrivals come apart in time; the checkpoint thread runs meanwhile
        if batch % 4 == 3:
            # Four batches are twice the threshold: a checkpoint has been asked for. It runs on its own thread, which
            # a busy machine may run late or while the next batches write (then the log cannot start over), so wait
            # until it has caught up with what was written, rather than race it (and fail if it never does).
            deadline = time.monotonic() + 10
            while checkpointer.checkpoints == done or not checkpointer.caught_up:
                assert time.monotonic() < deadline, "the checkpoints do not catch up with the store's writes"
                await asyncio.sleep(0.005)
            done = checkpointer.checkpoints
    # Automatic checkpoints are off on the loop's connections: without the checkpointer the WAL would hold all 2 MB.
    assert (await asyncio.to_thread(wal.stat)).st_size < 1024 * 1024
    async with sqlite_db.read() as session:
        assert len(await list_raw(session=session, limit=1000)) == 480
