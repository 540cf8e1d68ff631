"""New inbound rows announced to every instance on the same PostgreSQL database (LISTEN/NOTIFY).

An instance's own worker is woken by its own ingestors at once. A worker in another instance learned of new mail
only when it next polled (`[worker] poll_seconds`): in a deployment with ingest-only front instances and worker
instances behind them, every acknowledgement waited for that poll. Now the transaction that stores new raw rows
also sends a notification, which PostgreSQL delivers when it commits, and every worker listens for it. Polling
stays as it was, so a notification lost while a listening connection was down delays work by one poll at most.
SQLite has one instance per database file, whose worker is woken in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

RAW_CHANNEL = "inbox311_raw"
_NOTIFY_RAW = text(f"NOTIFY {RAW_CHANNEL}")
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # between attempts to listen again after the connection was lost


async def announce_new_raw(session: AsyncSession) -> None:
    """Tell every listening instance, once this transaction commits, that new raw rows are pending."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(_NOTIFY_RAW)


class RawListener:
    """Calls `wake()` whenever another instance (or this one) announces new raw rows; keeps listening across lost
    connections, and calls `wake()` after each reconnection, for anything announced while it was away."""

    def __init__(self, engine: AsyncEngine, wake: Callable[[], None]) -> None:
        self._engine = engine
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.listening = False
        self.connections = 0  # how many times it began to listen (1 + the reconnections)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="raw-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with self._engine.connect() as connection:
                    try:
                        await self._listen(connection)
                        failures = 0
                        await self._lost.wait()  # until the server or the network drops the connection
                        log.warning("raw listener: the connection was lost; listening again")
                    finally:  # closed, never back to the pool: it would go on listening for its next user
                        await connection.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again, more slowly each time
                log.warning("raw listener: %s: %s", type(exc).__name__, exc)
            self.listening = False
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _listen(self, connection: AsyncConnection) -> None:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's connection, held for as long as we listen
        self._lost.clear()
        driver.add_termination_listener(lambda _connection: self._lost.set())
        await driver.add_listener(RAW_CHANNEL, lambda *_notification: self._wake())
        self.listening = True
        self.connections += 1
        self._wake()  # for what was announced while no connection listened
