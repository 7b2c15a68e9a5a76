"""erasure status codes: the erasure tables store stable codes, not the words people read

Item sides, recipients and steps held their status as its label ("redaction sent",
"failed: <reason>, retrying"); they now hold a code ("redaction_sent",
"retrying:<reason>") and the label is looked up when shown (bridge.privacy.report), so
rewording a label is no data migration. The table below is the one of this revision:
later rewordings leave it alone.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# label -> code, for the words whose code differs from the label.
CODES = {
    "redaction sent": "redaction_sent",
    "admin notified": "admin_notified",
    "no contact published": "no_contact",
    "acknowledged by remote": "acknowledged",
    "purged by recipient": "purged",
    "refused by recipient": "refused",
    "not needed": "not_needed",
    "not possible": "not_possible",
    "no room redaction: left the room": "left_room",
    "no room redaction: joined after the item was sent": "joined_later",
}
COLUMNS = (
    ("erasure_item", "matrix_status"),
    ("erasure_item", "rc_status"),
    ("erasure_recipient", "status"),
    ("erasure_step", "status"),
)
FAILED_LABEL, RETRYING_SUFFIX = "failed: ", ", retrying"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _words(column: str, pairs: dict[str, str]) -> str:
    return " ".join(f"WHEN {column} = {_quote(a)} THEN {_quote(b)}" for a, b in pairs.items())


def upgrade() -> None:
    # One CASE per column, so no row is converted twice. "failed: <r>, retrying" becomes
    # "retrying:<r>" and "failed: <r>" becomes "failed:<r>" (substr is 1-based on both
    # SQLite and PostgreSQL).
    head, tail = len(FAILED_LABEL), len(RETRYING_SUFFIX)
    for table, column in COLUMNS:
        op.execute(
            f"UPDATE {table} SET {column} = CASE {_words(column, CODES)} "  # noqa: S608 - constants
            f"WHEN {column} LIKE 'failed: %, retrying' THEN "
            f"'retrying:' || substr({column}, {head + 1}, length({column}) - {head + tail}) "
            f"WHEN {column} LIKE 'failed: %' THEN 'failed:' || substr({column}, {head + 1}) "
            f"ELSE {column} END"
        )


def downgrade() -> None:
    labels = {code: label for label, code in CODES.items()}
    for table, column in COLUMNS:
        op.execute(
            f"UPDATE {table} SET {column} = CASE {_words(column, labels)} "  # noqa: S608 - constants
            f"WHEN {column} LIKE 'retrying:%' THEN "
            f"'failed: ' || substr({column}, {len('retrying:') + 1}) || ', retrying' "
            f"WHEN {column} LIKE 'failed:%' THEN "
            f"'failed: ' || substr({column}, {len('failed:') + 1}) "
            f"ELSE {column} END"
        )
