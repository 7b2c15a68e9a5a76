"""erasure: requests, request log, items, per-recipient outcomes, steps

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_request",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_ref", sa.Integer(), nullable=False),
        sa.Column("subject_origin", sa.SmallInteger(), nullable=False),
        sa.Column("subject_matrix_id", sa.String(length=255), nullable=True),
        sa.Column("subject_rc_id", sa.String(length=64), nullable=True),
        sa.Column("subject_rc_username", sa.String(length=255), nullable=True),
        sa.Column("pseudonym", sa.String(length=64), nullable=True),
        sa.Column("requester", sa.String(length=255), nullable=False),
        sa.Column("requester_side", sa.String(length=16), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("scope_room", sa.String(length=255), nullable=True),
        sa.Column("scope_before_ms", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.Column("receipt_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("receipt_confirmed_ms", sa.BigInteger(), nullable=True),
        sa.Column("extended_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("overdue_flagged_ms", sa.BigInteger(), nullable=True),
        sa.Column("plan_cursor", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_request")),
    )
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_request_pseudonym"), ["pseudonym"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_erasure_request_received_ms"), ["received_ms"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_erasure_request_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_erasure_request_subject_ref"), ["subject_ref"], unique=False
        )

    op.create_table(
        "erasure_item",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("disclosure_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=True),
        sa.Column("rc_room_id", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("rc_message_id", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.SmallInteger(), nullable=False),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.Column("redactor", sa.String(length=255), nullable=True),
        sa.Column("matrix_status", sa.String(length=255), nullable=False),
        sa.Column("rc_status", sa.String(length=255), nullable=False),
        sa.Column("redaction_id", sa.String(length=255), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_request.id"],
            name=op.f("fk_erasure_item_request_id_erasure_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_item")),
    )
    with op.batch_alter_table("erasure_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_erasure_item_request_room", ["request_id", "room_id", "sent_ms"], unique=False
        )
        batch_op.create_index(
            "uq_erasure_item_request_disclosure", ["request_id", "disclosure_id"], unique=True
        )

    op.create_table(
        "erasure_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_request.id"],
            name=op.f("fk_erasure_log_request_id_erasure_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_log")),
    )
    with op.batch_alter_table("erasure_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_log_request_id"), ["request_id"], unique=False)

    op.create_table(
        "erasure_recipient",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("reach", sa.String(length=16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_request.id"],
            name=op.f("fk_erasure_recipient_request_id_erasure_request"),
        ),
        sa.PrimaryKeyConstraint(
            "request_id", "recipient", "room_id", name=op.f("pk_erasure_recipient")
        ),
    )
    op.create_table(
        "erasure_step",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_request.id"],
            name=op.f("fk_erasure_step_request_id_erasure_request"),
        ),
        sa.PrimaryKeyConstraint("request_id", "step", name=op.f("pk_erasure_step")),
    )


def downgrade() -> None:
    op.drop_table("erasure_step")
    op.drop_table("erasure_recipient")
    with op.batch_alter_table("erasure_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_log_request_id"))

    op.drop_table("erasure_log")
    with op.batch_alter_table("erasure_item", schema=None) as batch_op:
        batch_op.drop_index("uq_erasure_item_request_disclosure")
        batch_op.drop_index("ix_erasure_item_request_room")

    op.drop_table("erasure_item")
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_request_subject_ref"))
        batch_op.drop_index(batch_op.f("ix_erasure_request_state"))
        batch_op.drop_index(batch_op.f("ix_erasure_request_received_ms"))
        batch_op.drop_index(batch_op.f("ix_erasure_request_pseudonym"))

    op.drop_table("erasure_request")
