"""The migrations build the schema the models describe, on both backends, and the ticket lookups that lost their
single-column indexes still search an index."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (the tables the metadata holds)

# Made by raw DDL in a migration and unknown to the models: the full-text search of tickets (0003, 0008).
SEARCH_OBJECTS = ("ticket_fts", "ix_ticket_search", "ticket_search_state")


def _unexplained(diff: list[Any]) -> list[Any]:
    """Differences other than the search index's own tables and indexes."""
    left = []
    for change in diff:
        if isinstance(change, list):  # column changes come grouped
            left.extend(c for c in change if not _is_search(c))
        elif not _is_search(change):
            left.append(change)
    return left


def _is_search(change: tuple[Any, ...]) -> bool:
    names = " ".join(str(getattr(part, "name", "")) for part in change[1:])
    return any(name in names for name in SEARCH_OBJECTS)


def _compare(connection: sa.Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def _sync_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg"))


def test_the_migrated_schema_is_the_models_schema(db_url: str) -> None:
    engine = _sync_engine(db_url)
    with engine.connect() as connection:
        diff = _compare(connection)
    engine.dispose()
    assert _unexplained(diff) == []


def test_ticket_indexes_have_no_redundant_prefixes(db_url: str) -> None:
    """ix_ticket_status and ix_ticket_category are gone: they repeated the first column of a wider index."""
    engine = _sync_engine(db_url)
    with engine.connect() as connection:
        indexes = sa.inspect(connection).get_indexes("ticket")
    engine.dispose()
    columns = {index["name"]: tuple(index["column_names"]) for index in indexes}
    assert "ix_ticket_status" not in columns and "ix_ticket_category" not in columns
    assert columns["ix_ticket_status_activity"][0] == "status"
    assert columns["ix_ticket_category_place"][0] == "category"


def test_lookups_by_status_or_category_alone_still_use_an_index(sqlite_url: str) -> None:
    plans = {}
    engine = _sync_engine(sqlite_url)
    with engine.connect() as connection:
        for column in ("status", "category"):
            found = connection.execute(sa.text(f"EXPLAIN QUERY PLAN SELECT id FROM ticket WHERE {column} = 'x'"))
            plans[column] = " ".join(str(row[-1]) for row in found)
    engine.dispose()
    assert "USING INDEX ix_ticket_status_activity" in plans["status"] or "USING COVERING INDEX" in plans["status"]
    assert "ix_ticket_category_place" in plans["category"]
