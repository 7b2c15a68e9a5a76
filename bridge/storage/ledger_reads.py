"""The disclosure ledger's queries (erasure, export, audit), as plain values.

Every query starts from an index: ``ix_ledger_disclosure_subject`` for a subject,
``ix_ledger_reach_server`` then ``ix_ledger_disclosure_room_time`` for a server. Pages use
keyset cursors ``(room_ref, sent_ms, id)`` in index order, so page n costs what page 1 does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge.storage.ledger_aggregate import AggregateRow, aggregate_rows, first_day
from bridge.storage.ledger_rows import (
    Disclosure,
    LedgerReach,
    LedgerRoom,
    LedgerServer,
    LedgerSubject,
)

DAY_MS = 86_400_000
Cursor = tuple[int, int, int]  # (room_ref, sent_ms, disclosure id)


@dataclass(frozen=True)
class StatRow:
    server: str
    kind: int
    categories: int
    count: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True)
class ItemRow:
    id: int
    subject_ref: int
    room_ref: int
    room_id: str
    rc_room_id: str | None
    origin: int
    categories: int
    sent_ms: int
    event_id: str | None
    rc_message_id: str | None
    register_version: int | None = None

    @property
    def cursor(self) -> Cursor:
        return (self.room_ref, self.sent_ms, self.id)


@dataclass(frozen=True)
class ReachRow:
    server: str
    kind: int
    from_ms: int
    to_ms: int | None


@dataclass(frozen=True)
class FlowRow:
    server: str
    kind: int
    day: int  # days since the epoch (UTC)
    categories: int
    count: int


@dataclass(frozen=True)
class ServerRecord:
    id: int
    name: str
    kind: int


_ITEM_COLUMNS = (
    Disclosure.id,
    Disclosure.subject_ref,
    Disclosure.room_ref,
    LedgerRoom.room_id,
    LedgerRoom.rc_room_id,
    Disclosure.origin,
    Disclosure.categories,
    Disclosure.sent_ms,
    Disclosure.event_id,
    Disclosure.rc_message_id,
    Disclosure.register_version,
)


def _in_reach() -> Any:
    return and_(
        LedgerReach.room_ref == Disclosure.room_ref,
        Disclosure.sent_ms >= LedgerReach.from_ms,
        or_(LedgerReach.to_ms.is_(None), Disclosure.sent_ms < LedgerReach.to_ms),
    )


def _item(row: Any) -> ItemRow:
    return ItemRow(*row)


class LedgerReads:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def servers(self) -> list[ServerRecord]:
        """Every recipient the ledger knows, by name."""
        rows = await self._session.execute(
            select(LedgerServer.id, LedgerServer.name, LedgerServer.kind).order_by(
                LedgerServer.name
            )
        )
        return [ServerRecord(r.id, r.name, r.kind) for r in rows]

    async def server(self, name: str) -> ServerRecord | None:
        row = (
            await self._session.execute(
                select(LedgerServer.id, LedgerServer.name, LedgerServer.kind).where(
                    LedgerServer.name == name
                )
            )
        ).one_or_none()
        return None if row is None else ServerRecord(row.id, row.name, row.kind)

    async def recipient_stats(self, subject_ref: int, rc_origin: int) -> list[StatRow]:
        """Per recipient and category mask: items, first and last send time.

        ``rc_origin``: disclosures of this origin also went to the room's Rocket.Chat.
        """
        aggregates = (
            LedgerServer.name,
            LedgerServer.kind,
            Disclosure.categories,
            func.count(),
            func.min(Disclosure.sent_ms),
            func.max(Disclosure.sent_ms),
        )
        homeservers = (
            select(*aggregates)
            .select_from(Disclosure)
            .join(LedgerReach, _in_reach())
            .join(LedgerServer, LedgerServer.id == LedgerReach.server_ref)
            .where(Disclosure.subject_ref == subject_ref)
            .group_by(LedgerServer.name, LedgerServer.kind, Disclosure.categories)
        )
        rocketchat = (
            select(*aggregates)
            .select_from(Disclosure)
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .join(LedgerServer, LedgerServer.id == LedgerRoom.rc_server_ref)
            .where(Disclosure.subject_ref == subject_ref, Disclosure.origin == rc_origin)
            .group_by(LedgerServer.name, LedgerServer.kind, Disclosure.categories)
        )
        rows = list(await self._session.execute(homeservers)) + list(
            await self._session.execute(rocketchat)
        )
        return [StatRow(*r) for r in rows]

    async def subject_items(
        self, subject_ref: int, after: Cursor | None, limit: int
    ) -> list[ItemRow]:
        q = (
            select(*_ITEM_COLUMNS)
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .where(Disclosure.subject_ref == subject_ref)
        )
        if after is not None:
            q = q.where(
                tuple_(Disclosure.room_ref, Disclosure.sent_ms, Disclosure.id) > tuple_(*after)
            )
        q = q.order_by(Disclosure.room_ref, Disclosure.sent_ms, Disclosure.id).limit(limit)
        return [_item(r) for r in await self._session.execute(q)]

    async def reach_of_rooms(self, room_refs: Sequence[int]) -> dict[int, list[ReachRow]]:
        """Each room's recipients with their reach ranges, Rocket.Chat as an open range."""
        out: dict[int, list[ReachRow]] = {ref: [] for ref in room_refs}
        if not room_refs:
            return out
        rows = await self._session.execute(
            select(
                LedgerReach.room_ref,
                LedgerServer.name,
                LedgerServer.kind,
                LedgerReach.from_ms,
                LedgerReach.to_ms,
            )
            .join(LedgerServer, LedgerServer.id == LedgerReach.server_ref)
            .where(LedgerReach.room_ref.in_(room_refs))
        )
        for room_ref, name, kind, start, end in rows:
            out[room_ref].append(ReachRow(name, kind, start, end))
        return out

    async def room_ref(self, room_id: str) -> int | None:
        return await self._session.scalar(
            select(LedgerRoom.id).where(LedgerRoom.room_id == room_id)
        )

    async def rocketchat_of_rooms(self, room_refs: Sequence[int]) -> dict[int, ServerRecord]:
        rows = await self._session.execute(
            select(LedgerRoom.id, LedgerServer.id, LedgerServer.name, LedgerServer.kind)
            .join(LedgerServer, LedgerServer.id == LedgerRoom.rc_server_ref)
            .where(LedgerRoom.id.in_(room_refs))
        )
        return {room: ServerRecord(sid, name, kind) for room, sid, name, kind in rows}

    async def server_ranges(self, server: ServerRecord) -> list[tuple[int, int, int | None]]:
        """(room_ref, from_ms, to_ms) ranges whose items reached ``server``, in cursor order."""
        if server.kind == 2:  # Rocket.Chat: every item of its rooms (origin-filtered later)
            refs = await self._session.scalars(
                select(LedgerRoom.id)
                .where(LedgerRoom.rc_server_ref == server.id)
                .order_by(LedgerRoom.id)
            )
            return [(ref, 0, None) for ref in refs]
        rows = await self._session.execute(
            select(LedgerReach.room_ref, LedgerReach.from_ms, LedgerReach.to_ms)
            .where(LedgerReach.server_ref == server.id)
            .order_by(LedgerReach.room_ref, LedgerReach.from_ms)
        )
        return [(r.room_ref, r.from_ms, r.to_ms) for r in rows]

    async def items_in_range(
        self,
        room_ref: int,
        start: int,
        end: int | None,
        after: Cursor | None,
        limit: int,
        origin: int | None = None,
    ) -> list[ItemRow]:
        q = (
            select(*_ITEM_COLUMNS)
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .where(Disclosure.room_ref == room_ref, Disclosure.sent_ms >= start)
        )
        if end is not None:
            q = q.where(Disclosure.sent_ms < end)
        if origin is not None:
            q = q.where(Disclosure.origin == origin)
        if after is not None and after[0] == room_ref:
            q = q.where(tuple_(Disclosure.sent_ms, Disclosure.id) > tuple_(after[1], after[2]))
        q = q.order_by(Disclosure.sent_ms, Disclosure.id).limit(limit)
        return [_item(r) for r in await self._session.execute(q)]

    async def server_stats(
        self, server: ServerRecord, since: int | None, until: int | None, rc_origin: int
    ) -> tuple[list[StatRow], int]:
        """Per category mask: items, first, last; and the distinct subjects overall."""
        if server.kind == 2:  # Rocket.Chat receives the Matrix-origin items of its rooms
            base = (
                select()
                .select_from(Disclosure)
                .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
                .where(LedgerRoom.rc_server_ref == server.id, Disclosure.origin == rc_origin)
            )
        else:
            base = (
                select()
                .select_from(LedgerReach)
                .join(Disclosure, _in_reach())
                .where(LedgerReach.server_ref == server.id)
            )
        base = _window(base, since, until)
        grouped = base.add_columns(
            Disclosure.categories,
            func.count(),
            func.min(Disclosure.sent_ms),
            func.max(Disclosure.sent_ms),
        ).group_by(Disclosure.categories)
        rows = [StatRow(server.name, server.kind, *r) for r in await self._session.execute(grouped)]
        subjects = await self._session.scalar(
            base.add_columns(func.count(Disclosure.subject_ref.distinct()))
        )
        return rows, int(subjects or 0)

    async def last_disclosure_id(self) -> int:
        """The newest disclosure's id (0 when there is none): a mark that bounds a read
        to what was recorded up to now, whatever the items' own timestamps say."""
        return int(await self._session.scalar(select(func.max(Disclosure.id))) or 0)

    async def server_breakdown(
        self, server: ServerRecord, since: int | None, up_to_id: int | None = None
    ) -> list[tuple[int, str, int, int, int]]:
        """What reached a homeserver, as (subject_ref, room id, day, category mask, items);
        the same reach join as ``server_stats``, so the totals agree. ``up_to_id`` keeps
        only disclosures recorded up to that mark (``last_disclosure_id``)."""
        day = Disclosure.sent_ms // DAY_MS
        q = (
            select(Disclosure.subject_ref, LedgerRoom.room_id, day, Disclosure.categories)
            .select_from(LedgerReach)
            .join(Disclosure, _in_reach())
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .where(LedgerReach.server_ref == server.id)
        )
        if up_to_id is not None:
            q = q.where(Disclosure.id <= up_to_id)
        q = _window(q, since, None).add_columns(func.count())
        q = q.group_by(Disclosure.subject_ref, LedgerRoom.room_id, day, Disclosure.categories)
        return [
            (int(a), str(b), int(c), int(d), int(e))
            for a, b, c, d, e in await self._session.execute(q)
        ]

    async def subjects(
        self, refs: Sequence[int]
    ) -> list[tuple[int, int, str | None, str | None, str | None, int | None]]:
        """(id, origin, Matrix id, Rocket.Chat id, username, erased_ms) of each subject."""
        rows = await self._session.execute(
            select(
                LedgerSubject.id,
                LedgerSubject.origin,
                LedgerSubject.matrix_user_id,
                LedgerSubject.rc_user_id,
                LedgerSubject.rc_username,
                LedgerSubject.erased_ms,
            ).where(LedgerSubject.id.in_(list(refs)))
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def flows(self, since: int | None, until: int | None, rc_origin: int) -> list[FlowRow]:
        day = Disclosure.sent_ms // DAY_MS
        columns = (LedgerServer.name, LedgerServer.kind, day, Disclosure.categories, func.count())
        groups = (LedgerServer.name, LedgerServer.kind, day, Disclosure.categories)
        homeservers = (
            select(*columns)
            .select_from(LedgerReach)
            .join(Disclosure, _in_reach())
            .join(LedgerServer, LedgerServer.id == LedgerReach.server_ref)
        )
        rocketchat = (
            select(*columns)
            .select_from(Disclosure)
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .join(LedgerServer, LedgerServer.id == LedgerRoom.rc_server_ref)
            .where(Disclosure.origin == rc_origin)
        )
        out: list[FlowRow] = []
        for q in (homeservers, rocketchat):
            rows = await self._session.execute(_window(q, since, until).group_by(*groups))
            out.extend(FlowRow(*r) for r in rows)
        return out

    async def aggregates(
        self,
        server: ServerRecord | None = None,
        since_day: int | None = None,
        until_day: int | None = None,
    ) -> list[AggregateRow]:
        """The day counts pruning left (bridge.storage.ledger_aggregate)."""
        ref = None if server is None else server.id
        return await aggregate_rows(self._session, ref, since_day, until_day)

    async def first_aggregate_day(self) -> int | None:
        return await first_day(self._session)


def _window(q: Any, since: int | None, until: int | None) -> Any:
    if since is not None:
        q = q.where(Disclosure.sent_ms >= since)
    if until is not None:
        q = q.where(Disclosure.sent_ms < until)
    return q


class LedgerReader:
    """``Database.ledger``: read sessions for the ledger's queries."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[LedgerReads]:
        async with self._sessions() as session:
            yield LedgerReads(session)
