"""Rows of the ``!privacy`` commands: DM rooms, confirmation codes, opt-outs,
the one-time notice, per-person command rate and the requests whose progress a person is
told about. A "person" is ``<side>:<user id>`` (``matrix:@a:hs`` or ``rocketchat:<id>``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base, BigID


class CommandRoomRow(Base):
    """What the bridge learnt about a room commands were typed in: a DM with its bot (and
    with whom), or not. Rooms never seen are looked up once (outbox), then known here."""

    __tablename__ = "command_room"

    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    is_dm: Mapped[bool] = mapped_column(Boolean)
    user_id: Mapped[str | None] = mapped_column(String(255))
    since_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_command_room_user", "side", "user_id"),)


class ConfirmationRow(Base):
    """A one-time confirmation code: only its SHA-256 is stored, never the code."""

    __tablename__ = "command_confirmation"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(300))
    code_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON: what the code confirms (a scope)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    used_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_command_confirmation_person", "person", "created_ms"),)


class OptOutRow(Base):
    """A person who asked not to have their messages bridged (``!privacy optout``)."""

    __tablename__ = "privacy_optout"

    person: Mapped[str] = mapped_column(String(300), primary_key=True)
    since_ms: Mapped[int] = mapped_column(BigInteger)


class NoticeShownRow(Base):
    """The privacy notice was sent to this person before their data first crossed."""

    __tablename__ = "privacy_notice_shown"

    person: Mapped[str] = mapped_column(String(300), primary_key=True)
    shown_ms: Mapped[int] = mapped_column(BigInteger)


class CommandRateRow(Base):
    """Commands of one person in the current one-minute window."""

    __tablename__ = "command_rate"

    person: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_ms: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)


class RequestWatchRow(Base):
    """An erasure request whose progress goes to a person's DM (or an admin room)."""

    __tablename__ = "command_request_watch"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    side: Mapped[str] = mapped_column(String(16))
    room_id: Mapped[str] = mapped_column(String(255))
    last_state: Mapped[str] = mapped_column(String(32))
    finished: Mapped[bool] = mapped_column(Boolean, server_default="0")
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_command_request_watch_open", "finished"),)
