"""Rows of the tamper-evident audit log (docs/audit.md).

``audit_entry`` is the hash chain itself. ``audit_head`` is one row holding the last
sequence number and hash: every append updates it first, which serialises appends (the
write lock on SQLite, a row lock on PostgreSQL) so concurrent writers still form one
chain, and lets ``verify`` notice entries cut off the end of the chain.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base

HEAD_ID = 1


class AuditEntryRow(Base):
    """One privacy-relevant action. ``seq`` is gapless: the chain position, from 1."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    # The ledger subject id (pseudonymised with the subject after an erasure), never a
    # name or account id, so the log itself needs no scrubbing.
    subject_ref: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entry_kind_seq", "kind", "seq"),
        Index("ix_audit_entry_subject_seq", "subject_ref", "seq"),
    )


class AuditHeadRow(Base):
    """The chain's head: one row (``id`` = 1), created by the migration."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
