"""ledger aggregate: per recipient, UTC day and category, the items pruned from the ledger

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_aggregate",
        sa.Column("server_ref", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_ref"],
            ["ledger_server.id"],
            name=op.f("fk_ledger_aggregate_server_ref_ledger_server"),
        ),
        sa.PrimaryKeyConstraint(
            "server_ref", "day", "categories", name=op.f("pk_ledger_aggregate")
        ),
    )


def downgrade() -> None:
    op.drop_table("ledger_aggregate")
