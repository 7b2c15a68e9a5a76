"""Rows of the bridging core: portals, the people on each side, and message id mappings."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base, BigID


class PortalRow(Base):
    """A Rocket.Chat room and the Matrix room it is bridged to."""

    __tablename__ = "portal"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    rc_room_id: Mapped[str] = mapped_column(String(64), unique=True)
    rc_room_type: Mapped[str] = mapped_column(String(1))
    # Null until the Matrix room exists (its creation is an outbox action).
    matrix_room_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="1")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class GhostRow(Base):
    """The Matrix ghost standing for a Rocket.Chat user."""

    __tablename__ = "ghost"

    rc_user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rc_username: Mapped[str] = mapped_column(String(255), index=True)
    matrix_user_id: Mapped[str] = mapped_column(String(255), unique=True)
    # What the ghost's Matrix profile was last set to, so a change is noticed.
    display_name: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the avatar image last copied, and when the profile was last compared:
    # Rocket.Chat's message stream does not announce avatar changes, so they are polled.
    avatar_hash: Mapped[str | None] = mapped_column(String(64))
    profile_checked_ms: Mapped[int | None] = mapped_column(BigInteger)


class ShadowRow(Base):
    """The Rocket.Chat account standing for a Matrix user."""

    __tablename__ = "shadow"

    matrix_user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    rc_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    rc_username: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    # A session token for posting as this user, issued by the bridge's admin account
    # (users.createToken). Needed because chat.sendMessage posts as the caller.
    auth_token: Mapped[str | None] = mapped_column(Text)


class MessageRow(Base):
    """One bridged message: its id on each side. Edits and deletions find it here."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portal.id", ondelete="CASCADE"))
    rc_message_id: Mapped[str] = mapped_column(String(64))
    # A Rocket.Chat message with attachments becomes several Matrix events (part 0, 1 …).
    part: Mapped[int] = mapped_column(Integer, server_default="0")
    matrix_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    origin: Mapped[str] = mapped_column(String(8))  # "rc" or "matrix"
    sender: Mapped[str] = mapped_column(String(255))  # RC user id or Matrix user id
    sent_ms: Mapped[int] = mapped_column(BigInteger)
    # The thread root's Rocket.Chat id; rooms.cleanHistory treats thread messages apart.
    rc_thread_id: Mapped[str | None] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, server_default="0")
    # The persona that sent it (a room under policy minimise), else null: the sender's
    # own ghost. Edits and redactions must come from the same Matrix user.
    persona: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("uq_message_rc_part", "rc_message_id", "part", unique=True),
        Index("ix_message_sender", "sender"),
    )


class ReactionRow(Base):
    """A bridged reaction: ``chat.react`` toggles, so removal needs the pairing."""

    __tablename__ = "reaction"

    matrix_event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    rc_message_id: Mapped[str] = mapped_column(String(64))
    emoji: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(8))
    persona: Mapped[str | None] = mapped_column(String(255))  # as on MessageRow

    __table_args__ = (Index("ix_reaction_rc", "rc_message_id", "emoji", "sender"),)


class PersonaRow(Base):
    """A Rocket.Chat person's persona: the ghost that stands for them in rooms shared
    with partners under policy ``minimise`` (bridge.privacy.personas)."""

    __tablename__ = "persona"

    matrix_user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    rc_user_id: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(64))
    # When its display name was set on the homeserver; null while it was only mentioned.
    named_ms: Mapped[int | None] = mapped_column(BigInteger)
