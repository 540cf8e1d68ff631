"""The full-text index of tickets on SQLite (`ticket_fts`), brought up to date on a thread of its own.

Indexing a ticket's words costs more than storing the ticket (about 70 us of the pipeline's 150 us INSERT, and a
small FTS segment written at every commit), and a trigger on INSERT did it on the event loop, in the pipeline's
transaction. Instead, new tickets are indexed in batches shortly after they are written: `wrote()` (every write of
the process reports here, as to the WAL checkpointer) starts a catch-up within CATCH_UP_SECONDS, which takes the
process's write turn and runs one statement per batch on this module's thread, where SQLite works without holding
the GIL. A staff search first catches up (`catch_up`), so it never misses a ticket made a moment ago; a process that
ends (a CLI import) catches up as it closes, and whatever a crash left unindexed is taken by the next catch-up of
any process: what is indexed is recorded in the database (`ticket_search_state`), not in memory.

Tickets up to `last_ticket_id` are indexed, and the triggers keep them in step when their words change or they are
deleted; those after it are not, and the next catch-up indexes their words as they are then. SQLite's single writer
is what makes that exact: a ticket's INSERT, a change to it and a catch-up never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 0.5  # how soon after a write its new tickets are searchable (a search catches up at once)
BATCH = 2000  # tickets per transaction: a large import is indexed without holding the write lock for long
BUSY_TIMEOUT_MS = 30_000  # another process writing: wait as the engine's connections do
COLUMNS = "tracking_number, summary, description, address"  # as migration 0003 made the index

_LAST = "SELECT last_ticket_id FROM ticket_search_state"
_NEXT_BATCH = "SELECT max(id), count(*) FROM (SELECT id FROM ticket WHERE id > ? ORDER BY id LIMIT ?)"
_INDEX = (
    f"INSERT INTO ticket_fts(rowid, {COLUMNS}) SELECT id, {COLUMNS} FROM ticket WHERE id > ? AND id <= ? ORDER BY id"
)


class SqliteSearchIndex:
    """The catch-up of one SQLite file's ticket index, for one process's Database."""

    def __init__(
        self, path: str, write_turn: Callable[[], AbstractAsyncContextManager[None]], on_commit: Callable[[], None]
    ) -> None:
        self._path = path
        self._write_turn = write_turn  # the process's writers take turns (storage/db.py)
        self._on_commit = on_commit  # (the WAL checkpointer counts this writer's commits too)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-index")
        self._conn: sqlite3.Connection | None = None  # used on the index thread only
        self._pending = False  # written since the last catch-up began
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.indexed = 0  # tickets this process indexed

    def wrote(self) -> None:
        """A transaction was committed: its tickets (if it made any) are indexed within CATCH_UP_SECONDS."""
        if self._closed:
            return
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="search-index")

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(CATCH_UP_SECONDS)
            try:
                await self.catch_up()
            except sqlite3.Error as exc:  # e.g. the file went away under a test; the next write tries again
                log.warning("search index of %s: catching up failed: %s", self._path, exc)

    async def catch_up(self) -> int:
        """Index every ticket not indexed yet, whichever process wrote it; returns how many."""
        self._pending = False
        total = 0
        while True:
            async with self._write_turn():
                done = await asyncio.get_running_loop().run_in_executor(self._executor, self._index_batch)
            if done:
                self._on_commit()
            total += done
            if done < BATCH:
                return total

    async def close(self) -> None:
        """Index what this process wrote and has not indexed yet, then let the thread go."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        try:
            if self._pending:
                await self.catch_up()
        except sqlite3.Error as exc:
            log.warning("search index of %s: catching up at close failed: %s", self._path, exc)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
            self._executor.shutdown(wait=False)

    # ---- on the index thread --------------------------------------------------------------------------------

    def _index_batch(self) -> int:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute(_LAST).fetchone()
            newest, count = conn.execute(_NEXT_BATCH, (last, BATCH)).fetchone()
            if not count:
                conn.execute("ROLLBACK")
                return 0
            conn.execute(_INDEX, (last, newest))
            conn.execute("UPDATE ticket_search_state SET last_ticket_id = ?", (newest,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.indexed += count
        return int(count)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            from storage.db import configure_loop_connection  # (storage.db makes this index: imported late)

            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            configure_loop_connection(conn)  # the pragmas of the process's other writers
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
