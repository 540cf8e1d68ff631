"""WAL checkpoints for a SQLite file, on a thread of their own: the connections on the event loop never run one.

A checkpoint copies the write-ahead log into the database file and fsyncs it, which can take milliseconds to
seconds on a slow disk. SQLite's automatic checkpoint would run it inside whichever commit crossed 1000 pages, on
the event loop (storage/sqlite_session.py, storage/raw_sqlite.py); those connections therefore turn it off, and
every writer of the process calls `wrote()` instead: a passive checkpoint then runs here once the log has grown by
about as much as SQLite's own threshold, or shortly after writing stops. Passive checkpoints never wait for readers
or writers, and the log starts over from its beginning once a checkpoint has caught up with it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

EVERY_BYTES = 4 * 1024 * 1024  # SQLite's automatic checkpoint is at 1000 pages of 4 KiB
IDLE_SECONDS = 1.0  # after the last write, the log is checkpointed this soon even if it is small
WRITE_ESTIMATE = 16 * 1024  # what one transaction adds to the log when its writer cannot tell


class WalCheckpointer:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self._conn: sqlite3.Connection | None = None  # used on the checkpoint thread only
        self._pending = 0  # bytes written since the last checkpoint began (an estimate)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running = False  # a checkpoint is on its thread
        self.checkpoints = 0

    @property
    def caught_up(self) -> bool:
        """Nothing written since the last checkpoint began, and none is running: the log is all in the file."""
        return not self._pending and not self._running

    def wrote(self, nbytes: int = WRITE_ESTIMATE) -> None:
        """A transaction was committed: checkpoint soon (at once when the log has grown enough)."""
        self._pending += nbytes
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="wal-checkpoint")
        if self._pending >= EVERY_BYTES:
            self._wake.set()

    async def _run(self) -> None:
        while self._pending:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=IDLE_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            self._pending = 0
            self._running = True
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._checkpoint)
            except sqlite3.Error as exc:  # e.g. the file went away under a test; the next write tries again
                log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
            finally:
                self._running = False

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)
