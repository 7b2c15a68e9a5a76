"""bridging: portals, ghosts, shadows, message map

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ghost",
        sa.Column("rc_user_id", sa.String(length=64), nullable=False),
        sa.Column("rc_username", sa.String(length=255), nullable=False),
        sa.Column("matrix_user_id", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("rc_user_id", name=op.f("pk_ghost")),
        sa.UniqueConstraint("matrix_user_id", name=op.f("uq_ghost_matrix_user_id")),
    )
    with op.batch_alter_table("ghost", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ghost_rc_username"), ["rc_username"], unique=False)

    op.create_table(
        "portal",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rc_room_id", sa.String(length=64), nullable=False),
        sa.Column("rc_room_type", sa.String(length=1), nullable=False),
        sa.Column("matrix_room_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal")),
        sa.UniqueConstraint("matrix_room_id", name=op.f("uq_portal_matrix_room_id")),
        sa.UniqueConstraint("rc_room_id", name=op.f("uq_portal_rc_room_id")),
    )
    op.create_table(
        "reaction",
        sa.Column("matrix_event_id", sa.String(length=255), nullable=False),
        sa.Column("rc_message_id", sa.String(length=64), nullable=False),
        sa.Column("emoji", sa.String(length=255), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("matrix_event_id", name=op.f("pk_reaction")),
    )
    with op.batch_alter_table("reaction", schema=None) as batch_op:
        batch_op.create_index("ix_reaction_rc", ["rc_message_id", "emoji", "sender"], unique=False)

    op.create_table(
        "shadow",
        sa.Column("matrix_user_id", sa.String(length=255), nullable=False),
        sa.Column("rc_user_id", sa.String(length=64), nullable=True),
        sa.Column("rc_username", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("auth_token", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("matrix_user_id", name=op.f("pk_shadow")),
        sa.UniqueConstraint("rc_user_id", name=op.f("uq_shadow_rc_user_id")),
        sa.UniqueConstraint("rc_username", name=op.f("uq_shadow_rc_username")),
    )
    op.create_table(
        "message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "portal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("rc_message_id", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), server_default="0", nullable=False),
        sa.Column("matrix_event_id", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.Column("rc_thread_id", sa.String(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id"],
            ["portal.id"],
            name=op.f("fk_message_portal_id_portal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("matrix_event_id", name=op.f("uq_message_matrix_event_id")),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_sender", ["sender"], unique=False)
        batch_op.create_index("uq_message_rc_part", ["rc_message_id", "part"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("uq_message_rc_part")
        batch_op.drop_index("ix_message_sender")

    op.drop_table("message")
    op.drop_table("shadow")
    with op.batch_alter_table("reaction", schema=None) as batch_op:
        batch_op.drop_index("ix_reaction_rc")

    op.drop_table("reaction")
    op.drop_table("portal")
    with op.batch_alter_table("ghost", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ghost_rc_username"))

    op.drop_table("ghost")
