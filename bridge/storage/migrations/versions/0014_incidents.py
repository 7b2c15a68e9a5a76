"""incidents: each incident response, and the outbox actions it queued

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("deny_asked", sa.Boolean(), nullable=False),
        sa.Column("deny_version", sa.Integer(), nullable=True),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("ledger_mark", sa.BigInteger(), nullable=False),
        sa.Column("contacts_source", sa.String(length=32), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_opened_ms"), ["opened_ms"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_server"), ["server"], unique=False)
    op.create_table(
        "incident_step",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_step_incident_id_incident"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_incident_step")),
    )
    with op.batch_alter_table("incident_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_step_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_step_incident_id"))
    op.drop_table("incident_step")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_server"))
        batch_op.drop_index(batch_op.f("ix_incident_opened_ms"))
    op.drop_table("incident")
