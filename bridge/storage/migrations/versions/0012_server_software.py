"""server software: what each remote homeserver runs, first and last seen

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_software",
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("software", sa.String(length=128), nullable=True),
        sa.Column("version", sa.String(length=128), nullable=True),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=True),
        sa.Column("checked_ms", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("server", name=op.f("pk_server_software")),
    )
    op.create_index(
        op.f("ix_server_software_checked_ms"), "server_software", ["checked_ms"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_server_software_checked_ms"), table_name="server_software")
    op.drop_table("server_software")
