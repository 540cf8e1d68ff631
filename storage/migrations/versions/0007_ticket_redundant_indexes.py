"""ticket: drop the single-column indexes of status and category

Each is the first column of a wider index (ix_ticket_status_activity, ix_ticket_category_place) that serves the same
lookups, so they only cost upkeep: every new ticket and every status change wrote them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_ticket_status", table_name="ticket")
    op.drop_index("ix_ticket_category", table_name="ticket")


def downgrade() -> None:
    op.create_index("ix_ticket_category", "ticket", ["category"])
    op.create_index("ix_ticket_status", "ticket", ["status"])
