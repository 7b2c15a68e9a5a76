"""ghost avatars: the copied image's hash and when the profile was last compared

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ghost", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avatar_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("profile_checked_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ghost", schema=None) as batch_op:
        batch_op.drop_column("profile_checked_ms")
        batch_op.drop_column("avatar_hash")
