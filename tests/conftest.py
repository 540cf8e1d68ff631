"""Shared fixtures: the real servers `.ci/run` starts, and a fresh database per test built from the migrations."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from gateway.settings import Settings, load_settings
from storage.db import Database, upgrade_sync

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def need(var: str) -> str:
    """Servers are started by .ci/run; a missing one is a failure, never a skip."""
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: run the tests through `bash .ci/run` (it starts the real servers)")
    return value


@pytest.fixture(scope="session")
def imap_port() -> int:
    return int(need("INBOX311_TEST_IMAP_PORT"))


@pytest.fixture(scope="session")
def imaps_port() -> int:
    return int(need("INBOX311_TEST_IMAPS_PORT"))


@pytest.fixture(scope="session")
def imap_cafile() -> str:
    return need("INBOX311_TEST_IMAP_CAFILE")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    return need("INBOX311_TEST_PG_DSN")


@pytest.fixture(scope="session")
def twilio_mock() -> str:
    return need("INBOX311_TEST_TWILIO_MOCK")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return need("INBOX311_TEST_CHROMIUM")


# ---- databases -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated schema, built once; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(pg_dsn: str) -> str:
    """A PostgreSQL database migrated once, used as TEMPLATE for each test's own database."""
    name = f"inbox311_tpl_{uuid.uuid4().hex[:8]}"
    admin = create_sync_engine(_sync_dsn(pg_dsn), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade_sync(_with_db(pg_dsn, name))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _sync_dsn(dsn: str) -> str:
    return dsn.replace("+asyncpg", "+psycopg")


def _with_db(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + f"/{name}"


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "inbox311.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


def _fresh_pg(pg_dsn: str, template: str) -> Iterator[str]:
    name = f"inbox311_t_{uuid.uuid4().hex[:10]}"
    admin = create_sync_engine(_sync_dsn(pg_dsn), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _with_db(pg_dsn, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return _fresh_sqlite(sqlite_template, tmp_path)


@pytest.fixture
def pg_url(pg_dsn: str, pg_template: str) -> Iterator[str]:
    yield from _fresh_pg(pg_dsn, pg_template)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend: tests using it run twice, on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        yield _fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        yield from _fresh_pg(request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_template"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Defaults with every listener on an ephemeral loopback port and no real relay."""
    return load_settings(None, environ={}).replace(
        smtp={"port": 0, "domains": ["city.example"]},
        http={"port": 0, "public_base_url": "http://311.city.example"},
        # the parse and sending processes have tests of their own; elsewhere they would only add start-up time
        worker={"parse_processes": 0},
        outbound={"email": {"sender_process": False}},
    )
