"""ledger: disclosures, subjects, rooms, servers, presence, visibility and reach

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:38:43.159307
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_server",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_server")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_server_name")),
    )
    op.create_table(
        "ledger_subject",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.SmallInteger(), nullable=False),
        sa.Column("matrix_user_id", sa.String(length=255), nullable=True),
        sa.Column("rc_user_id", sa.String(length=64), nullable=True),
        sa.Column("rc_username", sa.String(length=255), nullable=True),
        sa.Column("pseudonym", sa.LargeBinary(length=16), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("erased_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_subject")),
        sa.UniqueConstraint("matrix_user_id", name=op.f("uq_ledger_subject_matrix_user_id")),
        sa.UniqueConstraint("rc_user_id", name=op.f("uq_ledger_subject_rc_user_id")),
    )
    with op.batch_alter_table("ledger_subject", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_subject_pseudonym"), ["pseudonym"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_subject_rc_username"), ["rc_username"], unique=False
        )

    op.create_table(
        "ledger_room",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("rc_room_id", sa.String(length=64), nullable=True),
        sa.Column("rc_server_ref", sa.Integer(), nullable=True),
        sa.Column("seeded_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rc_server_ref"],
            ["ledger_server.id"],
            name=op.f("fk_ledger_room_rc_server_ref_ledger_server"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_room")),
        sa.UniqueConstraint("room_id", name=op.f("uq_ledger_room_room_id")),
    )
    op.create_table(
        "ledger_disclosure",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_ref", sa.Integer(), nullable=False),
        sa.Column("room_ref", sa.Integer(), nullable=False),
        sa.Column("origin", sa.SmallInteger(), nullable=False),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("rc_message_id", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.LargeBinary(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_ref"], ["ledger_room.id"], name=op.f("fk_ledger_disclosure_room_ref_ledger_room")
        ),
        sa.ForeignKeyConstraint(
            ["subject_ref"],
            ["ledger_subject.id"],
            name=op.f("fk_ledger_disclosure_subject_ref_ledger_subject"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_disclosure")),
    )
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_disclosure_room_time", ["room_ref", "sent_ms", "id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_disclosure_subject",
            ["subject_ref", "room_ref", "sent_ms", "id"],
            unique=False,
        )

    op.create_table(
        "ledger_member",
        sa.Column("room_ref", sa.Integer(), nullable=False),
        sa.Column("server_ref", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("membership", sa.SmallInteger(), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_ref"], ["ledger_room.id"], name=op.f("fk_ledger_member_room_ref_ledger_room")
        ),
        sa.ForeignKeyConstraint(
            ["server_ref"],
            ["ledger_server.id"],
            name=op.f("fk_ledger_member_server_ref_ledger_server"),
        ),
        sa.PrimaryKeyConstraint("room_ref", "server_ref", "user_id", name=op.f("pk_ledger_member")),
    )
    op.create_table(
        "ledger_presence",
        sa.Column("room_ref", sa.Integer(), nullable=False),
        sa.Column("server_ref", sa.Integer(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("from_ms", sa.BigInteger(), nullable=False),
        sa.Column("to_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_ref"], ["ledger_room.id"], name=op.f("fk_ledger_presence_room_ref_ledger_room")
        ),
        sa.ForeignKeyConstraint(
            ["server_ref"],
            ["ledger_server.id"],
            name=op.f("fk_ledger_presence_server_ref_ledger_server"),
        ),
        sa.PrimaryKeyConstraint(
            "room_ref", "server_ref", "state", "from_ms", name=op.f("pk_ledger_presence")
        ),
    )
    op.create_table(
        "ledger_reach",
        sa.Column("room_ref", sa.Integer(), nullable=False),
        sa.Column("server_ref", sa.Integer(), nullable=False),
        sa.Column("from_ms", sa.BigInteger(), nullable=False),
        sa.Column("to_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_ref"], ["ledger_room.id"], name=op.f("fk_ledger_reach_room_ref_ledger_room")
        ),
        sa.ForeignKeyConstraint(
            ["server_ref"],
            ["ledger_server.id"],
            name=op.f("fk_ledger_reach_server_ref_ledger_server"),
        ),
        sa.PrimaryKeyConstraint("room_ref", "server_ref", "from_ms", name=op.f("pk_ledger_reach")),
    )
    with op.batch_alter_table("ledger_reach", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_reach_server", ["server_ref", "room_ref", "from_ms"], unique=False
        )

    op.create_table(
        "ledger_visibility",
        sa.Column("room_ref", sa.Integer(), nullable=False),
        sa.Column("from_ms", sa.BigInteger(), nullable=False),
        sa.Column("visibility", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_ref"], ["ledger_room.id"], name=op.f("fk_ledger_visibility_room_ref_ledger_room")
        ),
        sa.PrimaryKeyConstraint("room_ref", "from_ms", name=op.f("pk_ledger_visibility")),
    )


def downgrade() -> None:
    op.drop_table("ledger_visibility")
    with op.batch_alter_table("ledger_reach", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_reach_server")

    op.drop_table("ledger_reach")
    op.drop_table("ledger_presence")
    op.drop_table("ledger_member")
    with op.batch_alter_table("ledger_disclosure", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_disclosure_subject")
        batch_op.drop_index("ix_ledger_disclosure_room_time")

    op.drop_table("ledger_disclosure")
    op.drop_table("ledger_room")
    with op.batch_alter_table("ledger_subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_subject_rc_username"))
        batch_op.drop_index(batch_op.f("ix_ledger_subject_pseudonym"))

    op.drop_table("ledger_subject")
    op.drop_table("ledger_server")
