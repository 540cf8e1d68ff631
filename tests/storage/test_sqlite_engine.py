"""The SQLite engine of a service: driver calls on the event loop, the WAL checkpointed on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import sqlite_checkpoint
from storage.db import Database


async def test_statements_run_on_the_loop_thread(sqlite_db: Database) -> None:
    seen: list[int] = []

    def which_thread() -> int:
        seen.append(threading.get_ident())
        return 1

    async with sqlite_db.read() as session:
        (await session.connection()).connection.driver_connection.create_function("which_thread", 0, which_thread)
        assert (await session.execute(text("SELECT which_thread()"))).scalar_one() == 1
    assert seen == [threading.get_ident()]  # no hand-off to a driver thread and back


async def test_the_engines_writes_are_checkpointed_off_the_loop(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoint, "EVERY_BYTES", 64 * 1024)
    wal = Path(f"{make_url(sqlite_db.url).database}-wal")
    async with sqlite_db.write() as session:
        await session.execute(text("CREATE TABLE blob_test (id INTEGER PRIMARY KEY, body BLOB)"))
    for _ in range(400):  # 400 transactions of 8 KB: about 3 MB through the WAL
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO blob_test (body) VALUES (:b)"), {"b": b"y" * 8192})
        await asyncio.sleep(0.002)
    assert sqlite_db.checkpointer is not None and sqlite_db.checkpointer.checkpoints > 0
    assert (await asyncio.to_thread(wal.stat)).st_size < 2 * 1024 * 1024
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM blob_test"))).scalar_one() == 400
