"""Rows of the disclosure ledger: who received which personal data, and when.

Recipients are never stored per disclosure: at 10 million disclosures times a dozen
servers that would blow the 250 bytes/disclosure budget. Instead each room keeps small
timelines (server presence intervals, history-visibility change points) and a derived
``ledger_reach`` table: for each (room, server), the ranges of *send times* whose items
that server received. A recipient query is then a range join of disclosures against
reach, both served by indexes. docs/ledger.md describes the model and its retention.

Integer surrogate keys (``*_ref``) keep each disclosure row and its two indexes small.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base, BigID


class LedgerServer(Base):
    """A recipient: a homeserver name, or the organisation's Rocket.Chat.

    ``kind`` keeps the organisation's own homeserver and Rocket.Chat distinguishable from
    remote homeservers: the erasure engine acts on local copies itself (admin API,
    ``chat.delete``) and can only send notices to remote ones (GDPR Art. 17(2)).
    """

    __tablename__ = "ledger_server"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[int] = mapped_column(SmallInteger)


class LedgerRoom(Base):
    """A Matrix room the ledger has seen, with the Rocket.Chat side it is bridged to."""

    __tablename__ = "ledger_room"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(255), unique=True)
    rc_room_id: Mapped[str | None] = mapped_column(String(64))
    # The Rocket.Chat that receives Matrix-origin items of this room.
    rc_server_ref: Mapped[int | None] = mapped_column(ForeignKey("ledger_server.id"))
    # Set once the room's timelines were seeded from /joined_members, /members and /state.
    seeded_ms: Mapped[int | None] = mapped_column(BigInteger)


class LedgerSubject(Base):
    """One person across both sides (a data subject in the sense of GDPR Art. 4(1)).

    A Rocket.Chat user's subject also carries their Matrix ghost's id; a Matrix user's
    subject also carries their Rocket.Chat shadow user's id and username, so a mention of
    either identity resolves to the same person. After an erasure the identifying columns
    are nulled and ``pseudonym`` (a keyed hash of the former identity) remains.
    """

    __tablename__ = "ledger_subject"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[int] = mapped_column(SmallInteger)
    matrix_user_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    rc_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    rc_username: Mapped[str | None] = mapped_column(String(255), index=True)
    pseudonym: Mapped[bytes | None] = mapped_column(LargeBinary(16), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    erased_ms: Mapped[int | None] = mapped_column(BigInteger)


class LedgerMember(Base):
    """A user currently invited to or joined in a room; the row goes when they leave.

    Only the present state is kept (not each user's history): it is what the server-level
    timeline needs to tell a server's first join and last leave from a profile change.
    """

    __tablename__ = "ledger_member"

    room_ref: Mapped[int] = mapped_column(ForeignKey("ledger_room.id"), primary_key=True)
    server_ref: Mapped[int] = mapped_column(ForeignKey("ledger_server.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    membership: Mapped[int] = mapped_column(SmallInteger)
    since_ms: Mapped[int] = mapped_column(BigInteger)


class LedgerPresence(Base):
    """A server's presence interval in a room: ``[from_ms, to_ms)``, open while to_ms is null.

    ``state`` 2 = at least one of its users joined; 1 = at least one invited or joined
    (the window the ``invited`` history visibility opens, Matrix Client-Server API, Room History
    Visibility).
    """

    __tablename__ = "ledger_presence"

    room_ref: Mapped[int] = mapped_column(ForeignKey("ledger_room.id"), primary_key=True)
    server_ref: Mapped[int] = mapped_column(ForeignKey("ledger_server.id"), primary_key=True)
    state: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    from_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    to_ms: Mapped[int | None] = mapped_column(BigInteger)


class LedgerVisibility(Base):
    """A change of ``m.room.history_visibility`` taking effect at ``from_ms``."""

    __tablename__ = "ledger_visibility"

    room_ref: Mapped[int] = mapped_column(ForeignKey("ledger_room.id"), primary_key=True)
    from_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    visibility: Mapped[int] = mapped_column(SmallInteger)


class LedgerReach(Base):
    """Derived from presence and visibility: items sent in ``[from_ms, to_ms)`` reached the
    server. Rebuilt for a (room, server) whenever its timeline changes."""

    __tablename__ = "ledger_reach"

    room_ref: Mapped[int] = mapped_column(ForeignKey("ledger_room.id"), primary_key=True)
    server_ref: Mapped[int] = mapped_column(ForeignKey("ledger_server.id"), primary_key=True)
    from_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    to_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_ledger_reach_server", "server_ref", "room_ref", "from_ms"),)


class Disclosure(Base):
    """One item of personal data the bridge carried, about one subject.

    A message mentioning someone yields a second row for the mentioned person (category
    ``mention``): one subject per row keeps every subject query on a single index.
    """

    __tablename__ = "ledger_disclosure"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    subject_ref: Mapped[int] = mapped_column(ForeignKey("ledger_subject.id"))
    room_ref: Mapped[int] = mapped_column(ForeignKey("ledger_room.id"))
    origin: Mapped[int] = mapped_column(SmallInteger)
    categories: Mapped[int] = mapped_column(Integer)
    sent_ms: Mapped[int] = mapped_column(BigInteger)
    # Both copies' ids stay: they are what a redaction, chat.delete or notice names.
    event_id: Mapped[str | None] = mapped_column(String(255))
    rc_message_id: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    # The partner register's version in force when the item went out (docs/partners.md):
    # one integer (a byte or two on SQLite) instead of a copy of the terms per row.
    register_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # Subject → disclosures (recipients-of-subject, the erasure plan in keyset order).
        # Trailing columns make the aggregates index-only: counting a 100k-item subject
        # per recipient and category then never touches the table (2x faster measured).
        Index(
            "ix_ledger_disclosure_subject", "subject_ref", "room_ref", "sent_ms", "id", "categories"
        ),
        # Room + time → disclosures (what went to a server, flows, retention pruning).
        Index(
            "ix_ledger_disclosure_room_time",
            "room_ref",
            "sent_ms",
            "id",
            "categories",
            "subject_ref",
        ),
    )


class LedgerAggregate(Base):
    """What pruning leaves of old disclosures: how many items went to a recipient on a UTC
    day, per category mask (docs/ledger.md, "Retention").

    It names no subject, event, message or content hash, and no room either: a small room
    (a direct chat) would make a per-room day count a record about the few people in it.
    The mask is the disclosures' own, so an item counts once in ``items`` and once under
    each of its categories, as in the live ledger's summaries.
    """

    __tablename__ = "ledger_aggregate"

    server_ref: Mapped[int] = mapped_column(ForeignKey("ledger_server.id"), primary_key=True)
    # Days since 1970-01-01 UTC (the flows' day: sent_ms // 86 400 000).
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    categories: Mapped[int] = mapped_column(Integer, primary_key=True)
    items: Mapped[int] = mapped_column(BigInteger)
