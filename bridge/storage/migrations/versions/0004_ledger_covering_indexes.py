"""ledger: covering disclosure indexes (categories, subject) for index-only aggregates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SUBJECT = ["subject_ref", "room_ref", "sent_ms", "id"]
ROOM_TIME = ["room_ref", "sent_ms", "id"]


def upgrade() -> None:
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_disclosure_subject")
        batch_op.drop_index("ix_ledger_disclosure_room_time")
        batch_op.create_index("ix_ledger_disclosure_subject", [*SUBJECT, "categories"])
        batch_op.create_index(
            "ix_ledger_disclosure_room_time", [*ROOM_TIME, "categories", "subject_ref"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_disclosure_subject")
        batch_op.drop_index("ix_ledger_disclosure_room_time")
        batch_op.create_index("ix_ledger_disclosure_subject", SUBJECT)
        batch_op.create_index("ix_ledger_disclosure_room_time", ROOM_TIME)
