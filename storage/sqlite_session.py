"""SQLite sessions whose statements run on the event loop directly, without the asyncio adapter in between.

SQLite's calls take tens of microseconds and never wait on this process (its writers take turns before they begin,
`Database.write`), so they run on the loop. Through SQLAlchemy's asyncio layer each statement still paid for a
greenlet and seven switches between it and the loop, about twice what SQLAlchemy itself costs per statement; on the
pipeline's path, a dozen statements a message, that was the largest single cost. `InlineSession` is an AsyncSession
whose awaitable methods call a plain Session on a synchronous pysqlite engine, so a statement costs what SQLAlchemy
and SQLite cost. Callers see the same `AsyncSession` methods (PostgreSQL keeps the real asyncio path).

What can still block the loop: another process (a CLI verb) holding the write lock, up to `busy_timeout`, and
for no longer than that process's transaction. Checkpoints, which fsync, run on a thread of their own
(`storage/sqlite_checkpoint.py`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import Engine, QueuePool, create_engine, event
from sqlalchemy.engine import Connection, Result, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


class InlineSession(AsyncSession):
    """The AsyncSession methods, run at once on the plain Session it wraps (`sync_session`)."""

    _driver: tuple[Any, sqlite3.Connection] | None = None  # (the transaction, its sqlite3 connection)

    @property
    def bind(self) -> Any:  # the sync Engine: callers read `bind.dialect`
        return self.sync_session.bind

    async def execute(self, statement: Executable, params: Any = None, **kw: Any) -> Result[Any]:  # type: ignore[override]
        return self.sync_session.execute(statement, params, **kw)

    async def scalars(self, statement: Executable, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        return self.sync_session.scalars(statement, params, **kw)

    async def scalar(self, statement: Executable, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        return self.sync_session.scalar(statement, params, **kw)

    async def get(self, entity: Any, ident: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.sync_session.get(entity, ident, **kw)

    async def flush(self, objects: Sequence[Any] | None = None) -> None:
        self.sync_session.flush(objects)

    async def refresh(self, instance: object, attribute_names: Iterable[str] | None = None, **kw: Any) -> None:
        self.sync_session.refresh(instance, attribute_names, **kw)

    async def delete(self, instance: object) -> None:
        self.sync_session.delete(instance)

    async def merge(self, instance: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.sync_session.merge(instance, **kw)

    async def connection(self, **kw: Any) -> Connection:  # type: ignore[override]
        return self.sync_session.connection(**kw)

    def driver_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection of the session's transaction (begun if need be), looked up once per transaction:
        the direct statements (storage/sqlite_direct.py) ask for it a dozen times a message."""
        transaction = self.sync_session._transaction
        if transaction is not None and self._driver is not None and self._driver[0] is transaction:
            return self._driver[1]
        driver: sqlite3.Connection = self.sync_session.connection().connection.driver_connection
        self._driver = (self.sync_session._transaction, driver)  # (holding the transaction: `is` stays sound)
        return driver

    async def run_sync(self, fn: Callable[..., Any], *arg: Any, **kw: Any) -> Any:
        return fn(self.sync_session, *arg, **kw)

    async def commit(self) -> None:
        self.sync_session.commit()

    async def rollback(self) -> None:
        self.sync_session.rollback()

    async def close(self) -> None:
        self.sync_session.close()

    def begin(self) -> AbstractAsyncContextManager[InlineSession]:  # type: ignore[override]
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[InlineSession]:
        with self.sync_session.begin():  # committed when the block ends, rolled back if it raises
            yield self


def inline_session_factory(engine: Engine, session_class: type[Session]) -> Callable[..., Session]:
    """`sync_session_class` for an InlineSession maker: its plain Session is bound to the sync `engine`."""

    def make(**kw: Any) -> Session:
        kw.pop("bind", None)
        kw.pop("binds", None)
        return session_class(bind=engine, **kw)

    return make


def create_inline_engine(url: str, *, echo: bool, on_connect: Callable[[Any, Any], None]) -> Engine:
    """A synchronous pysqlite engine for a `sqlite+aiosqlite://` (or plain sqlite) URL."""
    database = make_url(url).database or ":memory:"
    uri = database.startswith("file:")

    def connect() -> sqlite3.Connection:
        # check_same_thread off: the pool may close a connection from the garbage collector's thread
        return sqlite3.connect(database, timeout=30, isolation_level=None, uri=uri, check_same_thread=False)

    # A pool of connections as for any file (the URL here is only a dialect: `creator` opens the database).
    engine = create_engine("sqlite+pysqlite://", creator=connect, echo=echo, poolclass=QueuePool)
    event.listen(engine, "connect", on_connect)
    return engine
