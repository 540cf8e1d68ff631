"""ticket: a partial index of the open tickets that are not duplicates, by category and time

A new report is compared with the open tickets of its category. Found through ix_ticket_category_place, a report
with a map pin or no place at all read every ticket the category ever had, closed ones included, so the pipeline
slowed as the years of tickets grew. This index holds only the tickets a report may duplicate, latest first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.models.OPEN_ORIGINAL_SQL today; a migration keeps its own copy, which later code must not change.
OPEN_ORIGINAL_SQL = "status IN ('new', 'acknowledged', 'in_progress') AND duplicate_of_id IS NULL"


def upgrade() -> None:
    where = sa.text(OPEN_ORIGINAL_SQL)
    op.create_index(
        "ix_ticket_open_category", "ticket", ["category", "created_at"], sqlite_where=where, postgresql_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_open_category", table_name="ticket")
