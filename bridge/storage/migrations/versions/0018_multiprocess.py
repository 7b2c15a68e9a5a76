"""several processes: an outbox claim apart from the retry time, and each room's inbox head

``outbox.claimed_until_ms`` is a PostgreSQL worker's claim on a running action, renewed
while it runs; ``next_attempt_ms`` keeps meaning "not before" (backoff) alone. The
partial index finds, per room, whether an earlier event is still pending, which is how
an inbox worker takes only the head of each room.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("inbox_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_event_pending_room",
            ["room_id", "id"],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_event", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_inbox_event_pending_room", sqlite_where=PENDING, postgresql_where=PENDING
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until_ms")
