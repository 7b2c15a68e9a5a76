"""Rows of the incident responses (``bridge incident open``; docs/partners.md).

An incident keeps what it found and asked for without naming anyone: the report for the
supervisory authority without its per-person list (that list is read again from the
ledger, up to the disclosure recorded last when it was opened, when the report is
downloaded), and one step per outbox action it queued, by key.
A step's progress is the outbox row's status; done rows are pruned after a while, so a
step whose row is gone was sent (only done rows are ever pruned).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base


class IncidentRow(Base):
    """One incident response: which server, which window, who opened it, what it found."""

    __tablename__ = "incident"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    server: Mapped[str] = mapped_column(String(255), index=True)
    since_ms: Mapped[int | None] = mapped_column(BigInteger)
    opened_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    # As the audit log writes actors: roles as they are, people by pseudonym.
    actor: Mapped[str] = mapped_column(String(255))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    deny_asked: Mapped[bool] = mapped_column(Boolean)
    # The register version the deny was recorded in; null when none was (not asked, a
    # dry run, or the server was denied already).
    deny_version: Mapped[int | None] = mapped_column(Integer)
    subjects: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    # The newest ledger disclosure id when it was opened: what the report reads again.
    ledger_mark: Mapped[int] = mapped_column(BigInteger)
    # Where the server's contacts came from (register, support document, config).
    contacts_source: Mapped[str | None] = mapped_column(String(32))
    # The Art. 33(3) report as opened, JSON, without its "people" list.
    report: Mapped[str] = mapped_column(Text)


class IncidentStepRow(Base):
    """One outbox action an incident queued: a notice to a person, a request to one of
    the server's contacts, or the deny's enforcement in one room."""

    __tablename__ = "incident_step"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # the outbox key
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"), index=True)
    step: Mapped[str] = mapped_column(String(16))  # person, contact, deny
    channel: Mapped[str] = mapped_column(String(16))  # rocketchat, matrix, email, room
    # The room a deny step acts in; null for notices (they name no one here).
    room_id: Mapped[str | None] = mapped_column(String(255))
