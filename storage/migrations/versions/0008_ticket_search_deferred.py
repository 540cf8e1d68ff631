"""ticket full-text search (SQLite): new tickets indexed shortly after they are written, not by a trigger

The index of a new ticket is written by storage/sqlite_search.py in batches, on a thread of its own, up to the
ticket recorded in `ticket_search_state`. The update and delete triggers now keep only tickets up to there in step:
a ticket after it is not in the index yet, and is indexed with its words as they are when its turn comes.
PostgreSQL's expression index is unchanged.

Like 0003's triggers, these are dropped with the table by a migration that rebuilds `ticket`; such a migration must
create them again (`_create_sqlite_triggers()`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "tracking_number, summary, description, address"
NEW = "new.tracking_number, new.summary, new.description, new.address"
OLD = "old.tracking_number, old.summary, old.description, old.address"
INDEXED = "old.id <= (SELECT last_ticket_id FROM ticket_search_state)"


def _create_sqlite_triggers() -> None:
    op.execute(
        f"CREATE TRIGGER ticket_fts_ad AFTER DELETE ON ticket WHEN {INDEXED} BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); END"
    )
    op.execute(
        f"CREATE TRIGGER ticket_fts_au AFTER UPDATE OF {COLUMNS} ON ticket WHEN {INDEXED} BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); "
        f"INSERT INTO ticket_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("ticket_fts_ai", "ticket_fts_ad", "ticket_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(
        "CREATE TABLE ticket_search_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_ticket_id INTEGER NOT NULL)"
    )
    # Every ticket so far was indexed by 0003's trigger.
    op.execute("INSERT INTO ticket_search_state (id, last_ticket_id) SELECT 1, coalesce(max(id), 0) FROM ticket")
    _create_sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("ticket_fts_ad", "ticket_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE ticket_search_state")
    op.execute(
        f"CREATE TRIGGER ticket_fts_ai AFTER INSERT ON ticket BEGIN "
        f"INSERT INTO ticket_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END"
    )
    op.execute(
        f"CREATE TRIGGER ticket_fts_ad AFTER DELETE ON ticket BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); END"
    )
    op.execute(
        f"CREATE TRIGGER ticket_fts_au AFTER UPDATE OF {COLUMNS} ON ticket BEGIN "
        f"INSERT INTO ticket_fts(ticket_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); "
        f"INSERT INTO ticket_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END"
    )
    op.execute("INSERT INTO ticket_fts(ticket_fts) VALUES ('rebuild')")  # tickets not indexed yet
