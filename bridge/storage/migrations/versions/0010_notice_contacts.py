"""erasure notice contacts: who each server's notice went to, and in which DM room

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_notice_contact",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_request.id"],
            name=op.f("fk_erasure_notice_contact_request_id_erasure_request"),
        ),
        sa.PrimaryKeyConstraint(
            "request_id", "server", "contact", name=op.f("pk_erasure_notice_contact")
        ),
    )


def downgrade() -> None:
    op.drop_table("erasure_notice_contact")
