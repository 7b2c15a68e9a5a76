"""partners: the partner register, its version, and the version in force on each disclosure

Disclosures recorded before the register existed keep a null ``register_version``: no
terms were on record for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("organisation", sa.String(length=255), nullable=False),
        sa.Column("contacts", sa.Text(), nullable=False),
        sa.Column("lawful_basis", sa.String(length=32), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("jurisdiction", sa.String(length=2), nullable=True),
        sa.Column("third_country", sa.Boolean(), nullable=False),
        sa.Column("safeguard", sa.String(length=255), nullable=True),
        sa.Column("agreement_ref", sa.String(length=255), nullable=True),
        sa.Column("agreement_version", sa.String(length=64), nullable=True),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("server", name=op.f("pk_partner")),
    )
    state = op.create_table(
        "partner_register_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_register_state")),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("register_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.drop_column("register_version")
    op.drop_table("partner_register_state")
    op.drop_table("partner")
