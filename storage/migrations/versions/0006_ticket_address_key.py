"""ticket: address_key (the normalised place, indexed with the category, for finding duplicates)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from parsers.location import address_key
from parsers.types import Location

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("address_key", sa.String(length=200), nullable=True))
        batch.create_index("ix_ticket_category_place", ["category", "address_key"])
    _backfill()


def _backfill() -> None:
    """Existing tickets get the key their address would get today, so open ones are still found as originals."""
    bind = op.get_bind()
    ticket = sa.table(
        "ticket",
        sa.column("id", sa.Integer),
        sa.column("address", sa.String),
        sa.column("location_source", sa.String),
        sa.column("address_key", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(ticket.c.id, ticket.c.address, ticket.c.location_source)
            .where(ticket.c.id > last, ticket.c.address.is_not(None))
            .order_by(ticket.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        keys = []
        for row in rows:
            key = address_key(Location(row.address, row.location_source or "address", 0.0))
            if key:
                keys.append({"ticket_id": row.id, "key": key[:200]})
        if keys:
            bind.execute(
                ticket.update().where(ticket.c.id == sa.bindparam("ticket_id")).values(address_key=sa.bindparam("key")),
                keys,
            )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_category_place")
        batch.drop_column("address_key")
