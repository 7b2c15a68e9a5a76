"""SQLAlchemy rows. Only ``bridge.storage`` imports SQLAlchemy; callers get plain values.

Times are integers in milliseconds since the epoch: portable between SQLite and
PostgreSQL, compact at millions of rows, and what both protocols use on the wire
(Matrix ``origin_server_ts``, Rocket.Chat ``X-RateLimit-Reset``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so Alembic migrations can alter them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AppServiceTransaction(Base):
    """A homeserver transaction already stored, keyed by id *and* body hash.

    Synapse on SQLite restarts transaction ids at 1 after a restart
    (docs/synapse-notes.md), so an id alone does not identify a transaction.
    """

    __tablename__ = "as_transaction"

    txn_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    event_count: Mapped[int] = mapped_column(Integer)
    received_ms: Mapped[int] = mapped_column(BigInteger)


class InboxEvent(Base):
    """An event received but maybe not yet processed; drained by the inbox worker."""

    __tablename__ = "inbox_event"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(255))
    room_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    processed_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        # One row per event: duplicates within and across transactions collapse at intake.
        Index("uq_inbox_event_source_event_id", "source", "event_id", unique=True),
        Index(
            "ix_inbox_event_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # Whether an earlier event of the same room is still pending: an inbox worker
        # takes only each room's head, so several processes keep a room's order.
        Index(
            "ix_inbox_event_pending_room",
            "room_id",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )


class OutboxAction(Base):
    """An outbound effect, done at most once per idempotency key, retried until it is."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    # Actions sharing a queue run one at a time in id order (e.g. one Matrix room).
    queue: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    # How far a pending multi-step effect got (Outbox.save_progress); cleared when done.
    result: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Retry budget: when the current run of failures began (null: none yet); a dead
    # letter's time of death and why it was given up (refused, attempts, age).
    first_failed_ms: Mapped[int | None] = mapped_column(BigInteger)
    dead_ms: Mapped[int | None] = mapped_column(BigInteger)
    dead_cause: Mapped[str | None] = mapped_column(String(16))
    # PostgreSQL: a worker runs this action until then (its claim, renewed while it
    # runs); null when no one claims it. Apart from next_attempt_ms, the backoff, so
    # bringing retries forward never frees an action another process is running.
    claimed_until_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_outbox_queue_status_id", "queue", "status", "id"),
        Index("ix_outbox_status_next", "status", "next_attempt_ms"),
    )


class Cursor(Base):
    """A named resume point, e.g. the last Rocket.Chat timestamp seen per room."""

    __tablename__ = "cursor"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
