"""raw_body: the bytes of each raw_inbound row in a table of their own

SQLite writes a whole row again, its overflow pages too, whenever any column of it changes, and a raw_inbound row
changes when the pipeline claims it and when it settles it: a 10 MB email with photos wrote 20 MB to the WAL at
each. The bytes are now written once, into raw_body, and the queue row that changes is small.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "raw_body",
        sa.Column("raw_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["raw_id"], ["raw_inbound.id"]),
        sa.PrimaryKeyConstraint("raw_id"),
    )
    op.execute("INSERT INTO raw_body (raw_id, raw) SELECT id, raw FROM raw_inbound")
    # SQLite (3.35 and later) drops a column that no index or constraint names in place; batch mode would copy
    # the table by hand.
    op.drop_column("raw_inbound", "raw")


def downgrade() -> None:
    op.add_column("raw_inbound", sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    op.execute("UPDATE raw_inbound SET raw = (SELECT raw FROM raw_body WHERE raw_body.raw_id = raw_inbound.id)")
    op.drop_table("raw_body")
