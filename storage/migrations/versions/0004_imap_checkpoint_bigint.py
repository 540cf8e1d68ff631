"""imap checkpoint: UIDVALIDITY and last UID as BIGINT (unsigned 32-bit values overflow PostgreSQL's INTEGER)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('imap_checkpoint') as batch:
        batch.alter_column('uidvalidity', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
        batch.alter_column('last_uid', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('imap_checkpoint') as batch:
        batch.alter_column('uidvalidity', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        batch.alter_column('last_uid', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
