"""Pruning the disclosure ledger into day counts that name no one (``ledger_aggregate``).

A pruning step deletes a batch of old disclosures and adds what they were, per recipient,
UTC day and category mask, to ``ledger_aggregate`` in the same transaction. The counts are
taken from the rows the DELETE itself returned (``RETURNING``), not from a count made
before it: a crash rolls both back, and when two bridges on one PostgreSQL prune at once,
the second's DELETE waits for the first's rows and returns none of those the first
removed, so no item is counted twice.

Recipients are found as the live ledger's summaries find them (``LedgerReads.flows``): a
homeserver got the items its reach covers; the room's Rocket.Chat got its Matrix-origin
items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.ledger_rows import (
    Disclosure,
    LedgerAggregate,
    LedgerReach,
    LedgerRoom,
    LedgerServer,
)

DAY_MS = 86_400_000
Key = tuple[int, int, int]  # (server_ref, day, category mask)


@dataclass(frozen=True)
class AggregateRow:
    server: str
    kind: int
    day: int
    categories: int
    items: int


# What the DELETE returned of each pruned disclosure: (sent_ms, category mask, origin).
Pruned = tuple[int, int, int]


async def prune_into_aggregates(
    session: AsyncSession, cutoff_ms: int, limit: int, rc_origin: int
) -> int:
    """Delete up to ``limit`` disclosures sent before ``cutoff_ms`` (room by room, on the
    room+time index) and add them to the aggregates; returns how many went."""
    removed = 0
    counts: Counter[Key] = Counter()
    for room_ref in list(await session.scalars(select(LedgerRoom.id).order_by(LedgerRoom.id))):
        if removed >= limit:
            break
        oldest = (
            select(Disclosure.id)
            .where(Disclosure.room_ref == room_ref, Disclosure.sent_ms < cutoff_ms)
            .order_by(Disclosure.sent_ms)
            .limit(limit - removed)
        )
        result = await session.execute(
            delete(Disclosure)
            .where(Disclosure.id.in_(oldest.scalar_subquery()))
            .returning(Disclosure.sent_ms, Disclosure.categories, Disclosure.origin)
        )
        pruned: list[Pruned] = [(int(t), int(c), int(o)) for t, c, o in result]
        if pruned:
            removed += len(pruned)
            counts.update(await _recipients(session, room_ref, pruned, rc_origin))
    await _add(session, counts)
    return removed


async def _recipients(
    session: AsyncSession, room_ref: int, pruned: Sequence[Pruned], rc_origin: int
) -> Counter[Key]:
    reach = (
        await session.execute(
            select(LedgerReach.server_ref, LedgerReach.from_ms, LedgerReach.to_ms).where(
                LedgerReach.room_ref == room_ref
            )
        )
    ).all()
    rocketchat = await session.scalar(
        select(LedgerRoom.rc_server_ref).where(LedgerRoom.id == room_ref)
    )
    counts: Counter[Key] = Counter()
    for sent_ms, categories, origin in pruned:
        day = sent_ms // DAY_MS
        for server, start, end in reach:
            if start <= sent_ms and (end is None or sent_ms < end):
                counts[(server, day, categories)] += 1
        if rocketchat is not None and origin == rc_origin:
            counts[(rocketchat, day, categories)] += 1
    return counts


async def _add(session: AsyncSession, counts: Counter[Key]) -> None:
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(LedgerAggregate).values(
        [
            {"server_ref": s, "day": d, "categories": c, "items": n}
            for (s, d, c), n in sorted(counts.items())
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["server_ref", "day", "categories"],
            set_={"items": LedgerAggregate.items + stmt.excluded["items"]},
        )
    )


async def aggregate_rows(
    session: AsyncSession,
    server_ref: int | None = None,
    since_day: int | None = None,
    until_day: int | None = None,
) -> list[AggregateRow]:
    """The aggregates of one recipient or all, of the days in ``[since_day, until_day)``,
    by recipient and day."""
    q = select(
        LedgerServer.name,
        LedgerServer.kind,
        LedgerAggregate.day,
        LedgerAggregate.categories,
        LedgerAggregate.items,
    ).join(LedgerServer, LedgerServer.id == LedgerAggregate.server_ref)
    if server_ref is not None:
        q = q.where(LedgerAggregate.server_ref == server_ref)
    if since_day is not None:
        q = q.where(LedgerAggregate.day >= since_day)
    if until_day is not None:
        q = q.where(LedgerAggregate.day < until_day)
    q = q.order_by(LedgerServer.name, LedgerAggregate.day, LedgerAggregate.categories)
    return [AggregateRow(*row) for row in await session.execute(q)]


async def first_day(session: AsyncSession) -> int | None:
    day = await session.scalar(select(func.min(LedgerAggregate.day)))
    return None if day is None else int(day)
