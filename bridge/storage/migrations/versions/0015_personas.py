"""personas: the ghosts that stand for Rocket.Chat people in rooms under policy minimise,
and which persona sent each bridged message and reaction

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persona",
        sa.Column("matrix_user_id", sa.String(length=255), nullable=False),
        sa.Column("rc_user_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("named_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("matrix_user_id", name=op.f("pk_persona")),
    )
    with op.batch_alter_table("persona", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_persona_rc_user_id"), ["rc_user_id"], unique=False)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("persona", sa.String(length=255), nullable=True))
    with op.batch_alter_table("reaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("persona", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reaction", schema=None) as batch_op:
        batch_op.drop_column("persona")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("persona")
    with op.batch_alter_table("persona", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persona_rc_user_id"))
    op.drop_table("persona")
