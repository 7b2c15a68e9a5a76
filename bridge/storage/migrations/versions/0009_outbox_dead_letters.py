"""outbox dead letters: a retry budget's start, and when and why an action was given up

Actions that failed for good (status ``failed``) become dead letters with cause
``refused``; when they failed was never recorded, so their ``dead_ms`` stays null.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_failed_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dead_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dead_cause", sa.String(length=16), nullable=True))
    op.execute("UPDATE outbox SET status = 'dead', dead_cause = 'refused' WHERE status = 'failed'")


def downgrade() -> None:
    op.execute("UPDATE outbox SET status = 'failed' WHERE status IN ('dead', 'dropped')")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dead_cause")
        batch_op.drop_column("dead_ms")
        batch_op.drop_column("first_failed_ms")
