"""SQLite for the async engine without a thread per connection: the driver's calls run on the event loop itself.

The aiosqlite driver hands every call (cursor, execute, fetch, close, commit) to a thread of its own and back, four
or five hand-offs per statement, which cost more than the statements themselves: an indexed lookup takes SQLite
tens of microseconds and the hand-offs most of a millisecond. This module gives SQLAlchemy's aiosqlite dialect a
connection with the same awaitable surface whose calls simply run, so a statement costs what SQLite costs.

Why blocking the loop for that long is fine here: writers of one process take turns before they begin
(`Database.write`), so a statement never waits on a lock held by this process; WAL readers never wait; and the
one wait left, another process (a CLI verb) holding the write lock, is bounded by `busy_timeout` and as short as
that process's transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.engine import make_url


class InlineCursor:
    """An aiosqlite-shaped cursor over a sqlite3 cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses directly to set the isolation level."""

    def put_nowait(self, request: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = request
        try:
            future.set_result(function())
        except Exception as exc:  # handed back to the awaiting caller, as the queue's thread would
            future.set_exception(exc)


class InlineConnection:
    """An aiosqlite-shaped connection over a sqlite3 connection, used only from the event loop's thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _RunNow()

    @property
    def _connection(self) -> sqlite3.Connection | None:  # SQLAlchemy checks it before commit and rollback
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._open().in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return InlineCursor(self._open().execute(sql, parameters))

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._open().create_function(name, num_params, func, **kw)

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def inline_connector(url: str, *, timeout: float) -> Callable[[], Any]:
    """`async_creator` for `create_async_engine`: opens the URL's SQLite file on the calling (loop) thread."""
    database = make_url(url).database or ":memory:"
    uri = database.startswith("file:")

    async def connect() -> InlineConnection:
        # check_same_thread off: the pool may close a connection from the garbage collector's thread
        raw = sqlite3.connect(database, timeout=timeout, isolation_level=None, uri=uri, check_same_thread=False)
        return InlineConnection(raw)

    return connect
