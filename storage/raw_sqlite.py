"""Stores batches of raw arrivals in a SQLite database in one short step, on a connection of the raw store's own.

Through the async engine a batch costs SQLAlchemy's session and statement machinery and, on aiosqlite, about ten
hand-offs to the driver's thread (BEGIN, the INSERT, its rows, COMMIT, the pool's reset...); under load that, not
SQLite, was most of what a Twilio webhook or an SMTP DATA spent before its answer. Handing the whole batch to a thread
of our own is no cure either: every SQLite call releases the GIL, and a busy event loop hands it back only after the
5 ms switch interval.

So the batch's transaction (BEGIN IMMEDIATE, the prepared `INSERT ... ON CONFLICT DO NOTHING RETURNING id` for each
row and the INSERT of each new row's bytes, COMMIT) runs on the event loop itself: some 40 us a row, in WAL mode with
synchronous=NORMAL, where a commit appends to the WAL and does not fsync. What could make it wait is kept off the loop:
- a batch of more than INLINE_MAX_BYTES (large emails): copying it takes long enough to go to the store's thread;
- the lock held by another process (a CLI verb): the loop never waits for it (busy timeout 0); the batch is retried
  on the store's thread, which waits up to 30 s as the engine's connections do;
- checkpoints, which fsync: automatic ones are off on this connection, as on the engine's; each batch is reported
  to the database's WalCheckpointer (storage/sqlite_checkpoint.py), which runs them on a thread of its own.
The statements and the value conversions are SQLAlchemy's own for the `raw_inbound` and `raw_body` tables, so a row
stored here reads back exactly like one stored through the engine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialects
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database, configure_loop_connection
from storage.models import RawInbound, utcnow
from storage.raw import STORE_BODY, NewRaw, StoredRaw, raw_row_values
from storage.sqlite_direct import Plan, plan_of

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000  # on the store's thread only: as long as the engine's connections wait for a lock
INLINE_MAX_BYTES = 512 * 1024  # a few hundred texts or small emails; more would hold up the loop for milliseconds
Row = tuple[Any, ...]


def _insert_plan() -> Plan:
    """The INSERT as SQLAlchemy writes it for SQLite, with the bind conversions the engine applies."""
    table = RawInbound.__table__
    stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    values = raw_row_values(NewRaw(channel="", source="", idempotency_key="", raw=b""), utcnow())
    plan = plan_of(stmt, values, sqlite_dialects.dialect())
    assert plan is not None, "every column of a raw row is given: nothing is left to the engine"
    return plan


def _body_plan() -> Plan:
    plan = plan_of(STORE_BODY, {"raw_id": 0, "raw": b""}, sqlite_dialects.dialect())
    assert plan is not None, "both columns of a body are given"
    return plan


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


class SqliteRawStore:
    """The raw store's SQLite connection; `store` is one transaction per batch, in this process's turn to write.

    The connection is used by one caller at a time (the writer's turn), from the loop or, waiting for a lock, from
    the store's thread; hence `check_same_thread=False`.
    """

    def __init__(self, db: Database, path: str) -> None:
        self._db = db
        self._path = path
        self._plan = _insert_plan()
        self._body_plan = _body_plan()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-store")
        self._conn: sqlite3.Connection | None = None

    async def store(self, items: Sequence[NewRaw]) -> list[StoredRaw]:
        """Insert each item with a new key, committed on return; a known key (or a repeat in `items`) is a duplicate."""
        loop = asyncio.get_running_loop()
        now = utcnow()
        rows = [(self._row(item, now), item.raw) for item in items]
        size = sum(len(item.raw) for item in items)
        # In this process, writers take turns (the pipeline's sessions too) rather than meet in SQLite's busy
        # handler, whose sleeps grow to 100 ms.
        async with self._db.write_turn():
            if self._conn is None:
                self._conn = await loop.run_in_executor(self._executor, self._connect)
            if size > INLINE_MAX_BYTES:
                ids = await loop.run_in_executor(self._executor, self._insert_rows_waiting, rows)
            else:
                try:
                    ids = self._insert_rows(self._conn, rows)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    ids = await loop.run_in_executor(self._executor, self._insert_rows_waiting, rows)
        self._db.wrote(size)
        return [StoredRaw(raw_id=raw_id, duplicate=raw_id is None) for raw_id in ids]

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connections)
        self._executor.shutdown(wait=False)

    def _row(self, item: NewRaw, now: Any) -> Row:
        return self._plan.bind(raw_row_values(item, now))

    def _insert_rows(self, conn: sqlite3.Connection, rows: list[tuple[Row, bytes]]) -> list[int | None]:
        conn.execute("BEGIN IMMEDIATE")  # with busy timeout 0 on the loop: raises at once if another process writes
        try:
            ids: list[int | None] = []
            bodies: list[Row] = []
            for row, raw in rows:
                inserted = conn.execute(self._plan.sql, row).fetchone()  # None: the key is already stored
                ids.append(inserted[0] if inserted else None)
                if inserted:
                    bodies.append(self._body_plan.bind({"raw_id": inserted[0], "raw": raw}))
            conn.executemany(self._body_plan.sql, bodies)  # one call for the batch: a third of the cost of one each
            conn.execute("COMMIT")
        except BaseException:
            self._abandon(conn)
            raise
        return ids

    def _abandon(self, conn: sqlite3.Connection) -> None:
        """Roll back; a connection that cannot even do that is dropped, and the next batch opens a new one."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._conn = None
            conn.close()

    # ---- on the store's thread ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        configure_loop_connection(conn)
        conn.execute("PRAGMA busy_timeout=0")
        return conn

    def _insert_rows_waiting(self, rows: list[tuple[Row, bytes]]) -> list[int | None]:
        conn = self._conn or self._connect()
        self._conn = conn
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            return self._insert_rows(conn, rows)
        finally:
            if self._conn is conn:
                conn.execute("PRAGMA busy_timeout=0")

    def _close_connections(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
