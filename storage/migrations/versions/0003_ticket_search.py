"""ticket full-text search: an FTS5 table kept by triggers (SQLite), a GIN tsvector index (PostgreSQL)

Written by hand: autogenerate knows neither virtual tables nor expression indexes. The query side is
storage/inbox.py (`SQLITE_FTS_TABLE`, `PG_SEARCH_VECTOR`); keep the two in step.

On SQLite, a later migration that rebuilds `ticket` (batch mode: copy, drop, rename) drops these triggers with the
old table; such a migration must run `_create_sqlite_triggers()`'s statements again and `rebuild` the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "tracking_number, summary, description, address"
NEW = "new.tracking_number, new.summary, new.description, new.address"
OLD = "old.tracking_number, old.summary, old.description, old.address"
PG_SEARCH_VECTOR = (
    "to_tsvector('simple', coalesce(tracking_number, '') || ' ' || coalesce(summary, '') || ' ' || "
    "coalesce(description, '') || ' ' || coalesce(address, ''))"
)


def _create_sqlite_triggers() -> None:
    op.execute(
        f"CREATE TRIGGER ticket_fts_ai AFTER INSERT ON ticket BEGIN "
        f"INSERT INTO ticket_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END"
    )
    op.execute(
        f"CREATE TRIGGER ticket_fts_ad AFTER DELETE ON ticket BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); END"
    )
    # Only a change to an indexed column re-indexes: status changes and activity stamps cost nothing here.
    op.execute(
        f"CREATE TRIGGER ticket_fts_au AFTER UPDATE OF {COLUMNS} ON ticket BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); "
        f"INSERT INTO ticket_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_ticket_search ON ticket USING gin ({PG_SEARCH_VECTOR})")
        return
    op.execute(
        f"CREATE VIRTUAL TABLE ticket_fts USING fts5({COLUMNS}, content='ticket', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    _create_sqlite_triggers()
    op.execute("INSERT INTO ticket_fts(ticket_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_ticket_search")
        return
    for trigger in ("ticket_fts_ai", "ticket_fts_ad", "ticket_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS ticket_fts")
