"""One async engine per process, SQLite (WAL) by default or PostgreSQL by URL, and Alembic upgrades."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Table, event, insert, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state

from storage.apart import close_apart, give_back
from storage.core import execute_core
from storage.sqlite_checkpoint import WRITE_ESTIMATE, WalCheckpointer
from storage.sqlite_direct import prepared
from storage.sqlite_search import SqliteSearchIndex
from storage.sqlite_session import InlineSession, create_inline_engine, inline_session_factory
from storage.unavailable import DatabaseUnavailable, cannot_open, first_line

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


DIALECTS = ("postgresql", "sqlite")  # the databases we run on
M = TypeVar("M")


def conflict_insert(dialect: str) -> Callable[..., Any]:
    """The INSERT construct with ON CONFLICT clauses for `dialect` (a session's `bind.dialect.name`)."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def insert_returning(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M:
    """Insert one row and return it as a persistent object of the session.

    A Core INSERT .. RETURNING of every column (on SQLite's cursor directly: storage/sqlite_direct.py), whose row
    becomes an object as the ORM makes one of a row it loads: the ORM's own INSERT .. RETURNING of the entity costs
    several times as much, and this runs for every ticket and reply on the pipeline's path."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    row = (await execute_core(session, _insert_returning_all(table), values)).one()
    return as_loaded(session, model, row)


@functools.cache
def _insert_returning_all(table: Table) -> Executable:
    return prepared(insert(table).returning(*table.c))


@functools.cache
def _layout(model: type[Any]) -> tuple[Mapper[Any], tuple[str, ...], tuple[int, ...]]:
    """The model's mapper, the mapped attribute of each of the table's columns in the table's order, and where its
    key columns are."""
    mapper = inspect(model)
    by_column = {prop.columns[0]: prop.key for prop in mapper.column_attrs}
    columns = list(model.__table__.c)
    return mapper, tuple(by_column[c] for c in columns), tuple(columns.index(c) for c in mapper.primary_key)


def as_loaded(session: AsyncSession, model: type[M], row: Sequence[Any]) -> M:
    """The object of `model` for a row of all its table's columns (in the table's order), persistent in `session`
    as if the ORM had loaded it: the one the session holds already for that primary key, else a new one.

    A new one is made the way the ORM's loading makes one (`sqlalchemy.orm.loading`): built without `__init__`,
    given its identity and put in the identity map, and held by the session (`_hold`). Making it detached and then
    adding it (`make_transient_to_detached`, `Session.add`) gave the same object at three times the cost: four
    rows a message take this path (the claimed row, the contact, the ticket, the claimed reply)."""
    mapper, names, key_at = _layout(model)
    sync = session.sync_session
    key = mapper.identity_key_from_primary_key([row[i] for i in key_at])
    held = sync.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(zip(names, row, strict=True))  # every column is loaded; the models have no relationships
    state = instance_state(instance)
    state.key = key
    state.session_id = sync.hash_key
    sync.identity_map._add_unpresent(state, key)
    _hold(sync, instance)
    return instance  # type: ignore[no-any-return]


def as_transient(model: type[M], values: dict[str, Any]) -> M:
    """An object of `model` in no session holding `values` (columns not among them read None), made the way
    `as_loaded` makes one: the model's own constructor validates and fills defaults at thirty times the cost."""
    mapper, _, _ = _layout(model)
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    return instance  # type: ignore[no-any-return]


@functools.cache
def _insert_with_id(table: Table) -> Executable:
    return prepared(insert(table).returning(table.c.id))


async def insert_row_id(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> int:
    """Insert one row and return its id, without an object for it (Core on the table: the cheapest insert)."""
    return (await execute_core(session, _insert_with_id(model.__table__), values)).scalar_one()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_path(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """The asyncio engine of PostgreSQL (SQLite uses `create_inline_engine`)."""
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    _prepare_sqlite_path(url)
    checkpointed = sqlite_file_of(url) is not None
    engine = create_inline_engine(
        url, echo=echo, on_connect=configure_loop_connection if checkpointed else configure_sqlite_connection
    )
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def sqlite_file_of(url: str) -> str | None:
    """The file a SQLite URL names, or None where a second connection would not open the same database."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or parsed.query or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return database


def configure_loop_connection(dbapi_conn: Any, _record: Any = None) -> None:
    """`configure_sqlite_connection`, for a connection used on the event loop of a file database."""
    configure_sqlite_connection(dbapi_conn)
    # These connections run on the event loop: the checkpoints, which fsync, are the WalCheckpointer's (a thread).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def configure_sqlite_connection(dbapi_conn: Any, _record: Any = None) -> None:
    """The pragmas every SQLite connection of ours runs with, the engine's and the raw store's own alike."""
    # WAL lets readers (web pages) run beside the single writer; NORMAL is durable across process crashes in WAL
    # mode (only an OS crash can lose the last transactions), which is what "committed before 250" needs here.
    # isolation_level=None hands BEGIN to us (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another writer
    # committed in between; write transactions therefore take the lock up front and queue on busy_timeout.
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


class _HoldingSession(Session):
    """A session that keeps every object it loaded or inserted until it closes.

    The identity map holds objects weakly: a row one pipeline stage made or read and let go of would be read again
    from the database by the next stage's `session.get()`. Write transactions are short, so holding them is cheap.
    """


@event.listens_for(_HoldingSession, "loaded_as_persistent")
@event.listens_for(_HoldingSession, "pending_to_persistent")
@event.listens_for(_HoldingSession, "detached_to_persistent")
def _hold(session: Session, instance: object) -> None:
    session.info.setdefault("held", []).append(instance)


class Database:
    """The engine plus two ways in: `write()` for a transaction that changes rows, `read()` for one that does not."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine: AsyncEngine | Engine
        if self.sqlite:
            engine = self.engine = _sqlite_engine(url, echo=echo)
            writes = engine.execution_options(sqlite_begin="IMMEDIATE")
            self._writers = async_sessionmaker(
                class_=InlineSession,
                sync_session_class=inline_session_factory(writes, _HoldingSession),
                expire_on_commit=False,
            )
            self._readers = async_sessionmaker(
                class_=InlineSession, sync_session_class=inline_session_factory(engine, Session), expire_on_commit=False
            )
        else:
            self.engine = create_engine(url, echo=echo)
            self._writers = async_sessionmaker(
                self.engine, class_=AsyncSession, sync_session_class=_HoldingSession, expire_on_commit=False
            )
            self._readers = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue here, in order, instead of in SQLite's
        # busy handler, which sleeps in growing steps (up to 100 ms) and would add that to every contended commit.
        # Other processes (the CLI) still meet the busy timeout.
        self._write_turn = asyncio.Lock() if self.sqlite else None
        path = sqlite_file_of(url)
        self.checkpointer = WalCheckpointer(path) if path else None
        self.search_index = SqliteSearchIndex(path, self.write_turn, self._index_wrote) if path else None

    @property
    def sync_engine(self) -> Engine:
        """The engine whose events (connect, begin, before_cursor_execute ...) see this database's statements."""
        return self.engine if isinstance(self.engine, Engine) else self.engine.sync_engine

    def wrote(self, nbytes: int = WRITE_ESTIMATE) -> None:
        """A transaction was committed: by `write`, or by a writer with a connection of its own (the raw store)."""
        if self.checkpointer is not None:
            self.checkpointer.wrote(nbytes)
        if self.search_index is not None:
            self.search_index.wrote()

    def _index_wrote(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wrote()

    async def catch_up_search(self) -> None:
        """Make every ticket written so far searchable (SQLite indexes new tickets shortly after they are written:
        storage/sqlite_search.py); before a search."""
        if self.search_index is not None:
            await self.search_index.catch_up()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self._write_turn is None:
            async with self._writers() as session, session.begin():
                try:
                    yield session
                except BaseException:  # the block failed, before any commit: its counters go back (storage/apart.py)
                    await give_back(session)
                    raise
            return
        async with self._write_turn, self._writers() as session, session.begin():
            yield session
        self.wrote()

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (SQLite), for a writer with a connection of its own (the raw store)."""
        if self._write_turn is None:
            yield
            return
        async with self._write_turn:
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._readers() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        if isinstance(self.engine, Engine):
            self.engine.dispose()
        else:
            await close_apart(self.engine)
            await self.engine.dispose()
        if self.search_index is not None:  # first: its last catch-up writes, and the checkpointer is told
            await self.search_index.close()
        if self.checkpointer is not None:
            await self.checkpointer.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()  # a short-lived user (a CLI verb) closes its connections however it ends


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_sync(url: str, revision: str = "head") -> None:
    from alembic import command

    if is_sqlite(url):
        _prepare_sqlite_path(url)
    command.upgrade(alembic_config(url), revision)


async def check_reachable(url: str) -> None:
    """Open one connection to the database and run a trivial query; DatabaseUnavailable if that fails."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        if is_sqlite(url):
            _prepare_sqlite_path(url)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
    except (OSError, TimeoutError, DBAPIError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        raise DatabaseUnavailable(cannot_open(url, first_line(cause))) from exc


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; Alembic's env runs its own event loop, so do it in a thread. A database that
    cannot be opened raises DatabaseUnavailable before any migration runs."""
    await check_reachable(url)
    await asyncio.to_thread(upgrade_sync, url, revision)
