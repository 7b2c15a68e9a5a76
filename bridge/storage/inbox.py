"""The inbox: events persisted before the sender is acknowledged, then drained in order."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NewType

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bridge.storage.common import insert_ignoring_conflicts, now_ms
from bridge.storage.models import AppServiceTransaction, InboxEvent

PENDING = "pending"
DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"
# What a processed event's payload becomes: its id, type and room stay in their columns
# (replays are recognised by the id), its body does not stay at all.
SCRUBBED = "{}"


# A stored event's body: JSON text, opaque to storage. The source's connector wrote it
# (``encode_payload``) and reads it back, validating it before any handler sees it.
InboxPayload = NewType("InboxPayload", str)


@dataclass(frozen=True)
class NewInboxEvent:
    """An event to store: its columns and its body. Build it with :func:`new_event`, which
    keeps out of the columns what a remote party wrote that no column can hold."""

    event_id: str | None
    event_type: str | None
    room_id: str | None
    payload: InboxPayload


def new_event(
    event_id: object, event_type: object, room_id: object, payload: InboxPayload
) -> NewInboxEvent:
    return NewInboxEvent(
        _str_or_none(event_id), _str_or_none(event_type), _str_or_none(room_id), payload
    )


@dataclass(frozen=True)
class StoredEvent:
    id: int
    source: str
    event_id: str | None
    payload: InboxPayload
    attempts: int
    # The room whose order it keeps (None: no order to keep).
    room_id: str | None = None


@dataclass(frozen=True)
class TransactionReceipt:
    new: bool
    stored_events: int


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def store_matrix_transaction(
        self, txn_id: str, body_hash: bytes, events: Sequence[NewInboxEvent]
    ) -> TransactionReceipt:
        """Store a transaction's events and its id+hash in one database transaction.

        A replay (same id and body) stores nothing. Events already stored through another
        transaction are collapsed by their event id.

        The id+hash row is inserted first, ignoring a conflict: when two processes store
        the same transaction at once (the homeserver retried it through a load balancer),
        PostgreSQL makes the second insert wait for the first transaction and then finds
        the row, so the second is a replay, answered 200 once the first has committed.
        """
        received = now_ms()
        async with self._sessions.begin() as session:
            claimed = await session.scalar(
                insert_ignoring_conflicts(session, AppServiceTransaction.__table__)
                .values(
                    txn_id=txn_id,
                    body_hash=body_hash,
                    event_count=len(events),
                    received_ms=received,
                )
                .returning(AppServiceTransaction.txn_id)
            )
            if claimed is None:
                return TransactionReceipt(new=False, stored_events=0)
            stored = await self._insert(session, "matrix", events, received)
        return TransactionReceipt(new=True, stored_events=stored)

    async def store_events(self, source: str, events: Sequence[NewInboxEvent]) -> int:
        async with self._sessions.begin() as session:
            return await self._insert(session, source, events, now_ms())

    @staticmethod
    async def _insert(
        session: AsyncSession, source: str, events: Sequence[NewInboxEvent], received: int
    ) -> int:
        if not events:
            return 0
        rows = [
            {
                "source": source,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "room_id": event.room_id,
                "payload": event.payload,
                "status": PENDING,
                "attempts": 0,
                "received_ms": received,
            }
            for event in events
        ]
        # RETURNING counts the rows really inserted; executemany's rowcount is -1 on asyncpg.
        stmt = insert_ignoring_conflicts(session, InboxEvent.__table__).returning(InboxEvent.id)
        result = await session.execute(stmt, rows)
        return len(result.all())

    async def pending(self, limit: int) -> list[StoredEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(InboxEvent)
                .where(InboxEvent.status == PENDING)
                .order_by(InboxEvent.id)
                .limit(limit)
            )
            return [
                StoredEvent(r.id, r.source, r.event_id, InboxPayload(r.payload), r.attempts)
                for r in rows
            ]

    @staticmethod
    async def claim_next(session: AsyncSession, passed: Collection[int] = ()) -> StoredEvent | None:
        """Take the oldest pending event that is its room's head, in the caller's
        transaction (the one that handles it), leaving out ``passed``.

        Only a room's head is taken, so a room's events are handled in order even by
        several processes: while one handles the head, the next event of its room is
        no one's to take. On PostgreSQL the row is locked until the transaction ends and
        others skip it (``FOR UPDATE SKIP LOCKED``); a process that dies mid-event rolls
        back and frees it for the next. Events without a room have no order to keep.
        """
        earlier = aliased(InboxEvent)
        has_earlier = (
            select(earlier.id)
            .where(
                earlier.room_id == InboxEvent.room_id,
                earlier.status == PENDING,
                earlier.id < InboxEvent.id,
            )
            .exists()
        )
        stmt = (
            select(InboxEvent)
            .where(
                InboxEvent.status == PENDING,
                ~has_earlier,
                *([InboxEvent.id.not_in(list(passed))] if passed else []),
            )
            .order_by(InboxEvent.id)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = await session.scalar(stmt)
        if row is None:
            return None
        return StoredEvent(
            row.id, row.source, row.event_id, InboxPayload(row.payload), row.attempts, row.room_id
        )

    @staticmethod
    async def claim_batch(
        session: AsyncSession, limit: int, passed: Collection[int] = ()
    ) -> list[StoredEvent]:
        """Take up to ``limit`` pending events in arrival order, in the caller's
        transaction, leaving out ``passed`` and every event that has an earlier pending
        event of its room not taken with it.

        So a batch holds, for each room, a run of that room's next events from its head
        on, and a room's events are still handled in order by several processes (see
        :meth:`claim_next`): an earlier event another process holds, or one that failed
        this round, keeps the rest of its room out of the batch. On PostgreSQL the
        events are locked until the transaction ends and others skip them.
        """
        stmt = (
            select(InboxEvent)
            .where(
                InboxEvent.status == PENDING,
                *([InboxEvent.id.not_in(list(passed))] if passed else []),
            )
            .order_by(InboxEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await session.scalars(stmt))
        rooms = {r.room_id for r in rows if r.room_id is not None}
        first_not_taken: dict[str, int] = {}
        if rooms:
            ahead = await session.execute(
                select(InboxEvent.room_id, func.min(InboxEvent.id))
                .where(
                    InboxEvent.status == PENDING,
                    InboxEvent.room_id.in_(rooms),
                    InboxEvent.id <= rows[-1].id,
                    InboxEvent.id.not_in([r.id for r in rows]),
                )
                .group_by(InboxEvent.room_id)
            )
            first_not_taken = {str(room): int(first) for room, first in ahead}
        return [
            StoredEvent(r.id, r.source, r.event_id, InboxPayload(r.payload), r.attempts, r.room_id)
            for r in rows
            if r.room_id is None or r.id < first_not_taken.get(r.room_id, r.id + 1)
        ]

    @staticmethod
    async def finish_many(session: AsyncSession, event_ids: Collection[int], status: str) -> None:
        """:meth:`finish` for several events at once, without an error."""
        if event_ids:
            await session.execute(
                update(InboxEvent)
                .where(InboxEvent.id.in_(list(event_ids)))
                .values(
                    status=status,
                    last_error=None,
                    processed_ms=now_ms(),
                    payload=SCRUBBED,
                    room_id=None,
                )
            )

    @staticmethod
    async def finish(session: AsyncSession, event_id: int, status: str, error: str | None) -> None:
        """Mark an event done or skipped inside the caller's transaction (its effects').

        The payload (a message's body, file, names) is blanked in the same statement: once
        handled, only the event id is needed, to recognise a replay of it. The room id goes
        too: nothing reads it, and a Rocket.Chat DM's id is made of its members' user ids.
        """
        await session.execute(
            update(InboxEvent)
            .where(InboxEvent.id == event_id)
            .values(
                status=status,
                last_error=error,
                processed_ms=now_ms(),
                payload=SCRUBBED,
                room_id=None,
            )
        )

    async def record_failure(self, event_id: int, error: str, *, give_up: bool) -> None:
        """Count a failed attempt. On giving up the body goes too: nothing will process the
        event again, and the error (the worker's own words, never the body) says why."""
        async with self._sessions.begin() as session:
            await self.count_failure(session, event_id, error, give_up=give_up)

    @staticmethod
    async def count_failure(
        session: AsyncSession, event_id: int, error: str, *, give_up: bool
    ) -> None:
        """:meth:`record_failure` in the caller's transaction."""
        values: dict[str, Any] = {"attempts": InboxEvent.attempts + 1, "last_error": error[:2000]}
        if give_up:
            values |= {
                "status": FAILED,
                "payload": SCRUBBED,
                "processed_ms": now_ms(),
                "room_id": None,
            }
        await session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(values))

    async def counts(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
            )
            return {status: int(n) for status, n in rows}


def encode_payload(event: object) -> InboxPayload:
    """An event's body as stored: compact JSON, kept as the sender wrote it."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (legal as a JSON escape, not in UTF-8): keep it escaped, so the
        # event is stored and later skipped with a reason instead of failing the whole
        # transaction on every retry.
        return InboxPayload(json.dumps(event, separators=(",", ":")))
    return InboxPayload(text)


def _str_or_none(value: object) -> str | None:
    # Event fields come from a remote party: only a string both databases can store, and
    # short enough to be a real id, is used as a column (and de-duplication key); anything
    # else is kept in the payload alone and judged by the validators.
    if not isinstance(value, str) or len(value) > 255:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return None if "\x00" in value else value
