"""commands: DM rooms, confirmation codes, opt-outs, notices shown, command rate and
watched requests of the !privacy commands

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_confirmation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person", sa.String(length=300), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_confirmation")),
    )
    with op.batch_alter_table("command_confirmation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_command_confirmation_person", ["person", "created_ms"], unique=False
        )

    op.create_table(
        "command_rate",
        sa.Column("person", sa.String(length=300), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_command_rate")),
    )
    op.create_table(
        "command_request_watch",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("last_state", sa.String(length=32), nullable=False),
        sa.Column("finished", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_command_request_watch")),
    )
    with op.batch_alter_table("command_request_watch", schema=None) as batch_op:
        batch_op.create_index("ix_command_request_watch_open", ["finished"], unique=False)

    op.create_table(
        "command_room",
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("is_dm", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("side", "room_id", name=op.f("pk_command_room")),
    )
    with op.batch_alter_table("command_room", schema=None) as batch_op:
        batch_op.create_index("ix_command_room_user", ["side", "user_id"], unique=False)

    op.create_table(
        "privacy_notice_shown",
        sa.Column("person", sa.String(length=300), nullable=False),
        sa.Column("shown_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_privacy_notice_shown")),
    )
    op.create_table(
        "privacy_optout",
        sa.Column("person", sa.String(length=300), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_privacy_optout")),
    )


def downgrade() -> None:
    op.drop_table("privacy_optout")
    op.drop_table("privacy_notice_shown")
    with op.batch_alter_table("command_room", schema=None) as batch_op:
        batch_op.drop_index("ix_command_room_user")

    op.drop_table("command_room")
    with op.batch_alter_table("command_request_watch", schema=None) as batch_op:
        batch_op.drop_index("ix_command_request_watch_open")

    op.drop_table("command_request_watch")
    op.drop_table("command_rate")
    with op.batch_alter_table("command_confirmation", schema=None) as batch_op:
        batch_op.drop_index("ix_command_confirmation_person")

    op.drop_table("command_confirmation")
