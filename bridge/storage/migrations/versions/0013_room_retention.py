"""room retention: each portal's retention policy as last read from Rocket.Chat

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_retention",
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("rc_room_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("max_age_ms", sa.BigInteger(), nullable=True),
        sa.Column("files_only", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("read_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_room_retention")),
    )


def downgrade() -> None:
    op.drop_table("room_retention")
