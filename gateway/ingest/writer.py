"""Group commit for ingestors: many concurrent arrivals, one transaction, then every sender is answered.

An SMTP session waits on `store()` and answers 250 (a Twilio webhook 200) only once the batch holding its message is
committed. Batching is what lets one SQLite writer keep up with many connections; on SQLite a batch is written by the
raw store's own connection in one step (storage/raw_sqlite.py), elsewhere through the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from storage.db import Database, sqlite_file_of
from storage.raw import NewRaw, StoredRaw, store_raw_batch
from storage.raw_sqlite import SqliteRawStore

log = logging.getLogger(__name__)


class IngestError(Exception):
    """The message could not be stored; the sender should retry later (SMTP 451, HTTP 503)."""

    reason_code = "store-failed"


class RawWriter:
    def __init__(self, db: Database, *, on_stored: Callable[[], None] | None = None, max_batch: int = 256) -> None:
        self._db = db
        self._on_stored = on_stored
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[NewRaw, asyncio.Future[StoredRaw]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sqlite: SqliteRawStore | None = None

    async def store(self, item: NewRaw) -> StoredRaw:
        """Store one message durably; returns once it is committed (or raises IngestError)."""
        if self._task is None or self._task.done():
            raise IngestError("the raw store is not running")
        fut: asyncio.Future[StoredRaw] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, fut))  # unbounded: the sender waits on its commit, not on the queue
        return await fut

    def start(self) -> None:
        path = sqlite_file_of(self._db.url)
        self._sqlite = SqliteRawStore(self._db, path) if path else None
        self._task = asyncio.create_task(self._run(), name="raw-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._sqlite is not None:
            await self._sqlite.close()
            self._sqlite = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[tuple[NewRaw, asyncio.Future[StoredRaw]]]) -> None:
        items = [item for item, _ in batch]
        try:
            if self._sqlite is not None:
                results = await self._sqlite.store(items)
            else:
                async with self._db.write() as session:
                    results = await store_raw_batch(session=session, items=items)
        except Exception as exc:
            log.exception("raw store failed for a batch of %d", len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(IngestError(str(exc)))
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)
        if self._on_stored is not None and any(not r.duplicate for r in results):
            self._on_stored()
