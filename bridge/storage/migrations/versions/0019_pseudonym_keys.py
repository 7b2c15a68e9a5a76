"""pseudonym keys: one random key per person, destroyed when their retention ends

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this table existed keep the pseudonyms they were written with
    # (the audit chain is never rewritten); docs/retention.md says what that leaves.
    op.create_table(
        "pseudonym_key",
        sa.Column("lookup", sa.String(length=32), nullable=False),
        sa.Column("sealed_key", sa.String(length=255), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("shred_after_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("lookup", name=op.f("pk_pseudonym_key")),
    )
    op.create_index(op.f("ix_pseudonym_key_shred_after_ms"), "pseudonym_key", ["shred_after_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pseudonym_key_shred_after_ms"), table_name="pseudonym_key")
    op.drop_table("pseudonym_key")
