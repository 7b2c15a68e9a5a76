"""Rows of the erasure engine: requests, their log, items, recipients and steps.

These tables are the *request log* (11 CCR §7101: who asked, when, what was done, each
recipient's outcome; kept 24 months). They are separate from the data being erased and
name the subject by its ledger pseudonym once the request is finished; the identifiers
needed while executing sit in three nullable columns of ``erasure_request`` that are
cleared then. docs/erasure.md describes the state machine and the status words.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base, BigID


class ErasureRequestRow(Base):
    """One erasure request and its deadlines (GDPR Art. 12(3), CCPA §7021)."""

    __tablename__ = "erasure_request"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_ref: Mapped[int] = mapped_column(Integer, index=True)
    subject_origin: Mapped[int] = mapped_column(SmallInteger)
    # Identifiers used while executing; cleared when the request finishes (the log then
    # names the subject by ``pseudonym`` only).
    subject_matrix_id: Mapped[str | None] = mapped_column(String(255))
    subject_rc_id: Mapped[str | None] = mapped_column(String(64))
    subject_rc_username: Mapped[str | None] = mapped_column(String(255))
    pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    requester: Mapped[str] = mapped_column(String(255))
    requester_side: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    scope_room: Mapped[str | None] = mapped_column(String(255))
    scope_before_ms: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(24), index=True)
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    due_ms: Mapped[int] = mapped_column(BigInteger)
    receipt_due_ms: Mapped[int | None] = mapped_column(BigInteger)
    receipt_confirmed_ms: Mapped[int | None] = mapped_column(BigInteger)
    extended_due_ms: Mapped[int | None] = mapped_column(BigInteger)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    overdue_flagged_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Resume point of planning (a ledger page cursor); planning is re-runnable.
    plan_cursor: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ErasureLogRow(Base):
    """What happened to a request, when, and on whose word (the request log)."""

    __tablename__ = "erasure_log"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("erasure_request.id"), index=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


class ErasureItemRow(Base):
    """One ledger disclosure to erase, with the status of each of its copies."""

    __tablename__ = "erasure_item"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("erasure_request.id"))
    disclosure_id: Mapped[int] = mapped_column(BigInteger)
    room_id: Mapped[str] = mapped_column(String(255))
    portal_id: Mapped[int | None] = mapped_column(Integer)
    rc_room_id: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(255))
    rc_message_id: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[int] = mapped_column(SmallInteger)
    categories: Mapped[int] = mapped_column(Integer)
    sent_ms: Mapped[int] = mapped_column(BigInteger)
    # Who redacts the Matrix copy: the ghost that sent it, or the bot (moderator power).
    redactor: Mapped[str | None] = mapped_column(String(255))
    matrix_status: Mapped[str] = mapped_column(String(255))
    rc_status: Mapped[str] = mapped_column(String(255))
    redaction_id: Mapped[str | None] = mapped_column(String(255))
    # The recipients the ledger names for this item, space-separated (for the notices).
    recipients: Mapped[str] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("uq_erasure_item_request_disclosure", "request_id", "disclosure_id", unique=True),
        Index("ix_erasure_item_request_room", "request_id", "room_id", "sent_ms"),
    )


class ErasureRecipientRow(Base):
    """A recipient's outcome: per room (``room_id``) for redactions and delivery, and one
    server-level row (``room_id`` = ``''``) for the notice to its admins."""

    __tablename__ = "erasure_recipient"

    request_id: Mapped[str] = mapped_column(ForeignKey("erasure_request.id"), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    # "in_room": redactions reach it; "notice": it left, or joined after; "local"/"rc".
    reach: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ErasureStepRow(Base):
    """A request-level step: profile scrub, media deletion, bulk redaction, own copies."""

    __tablename__ = "erasure_step"

    request_id: Mapped[str] = mapped_column(ForeignKey("erasure_request.id"), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ErasureNoticeContactRow(Base):
    """Who a request's notice to a server went to, and in which DM room: an
    acknowledgement counts only from that contact, in that room."""

    __tablename__ = "erasure_notice_contact"

    request_id: Mapped[str] = mapped_column(ForeignKey("erasure_request.id"), primary_key=True)
    server: Mapped[str] = mapped_column(String(255), primary_key=True)
    contact: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sent_ms: Mapped[int] = mapped_column(BigInteger)
