"""The outbox: every outbound effect as a row with an idempotency key, retried until done."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bridge.storage.common import insert_ignoring_conflicts, now_ms, rowcount
from bridge.storage.models import OutboxAction

KEY_CHARS = 255
# PostgreSQL: a claimed action is another worker's for this long, and its own worker
# renews the claim every quarter of it while the action runs. Short, so that the actions
# a killed process was running are taken up again within half a minute.
CLAIM_LEASE_MS = 30_000
PENDING = "pending"
DONE = "done"
# What a done action's payload becomes: its key stays (and makes a second enqueue of the
# same effect a no-op), its body, file, names and tokens do not.
SCRUBBED = "{}"
# A dead letter: given up, out of its queue's way, waiting for an operator to retry or
# drop it (``bridge outbox``, the dashboard). ``dead_cause`` says why it was given up.
DEAD = "dead"
# Dropped by an operator: the key stays reserved so nothing runs it again; no payload.
DROPPED = "dropped"
REFUSED = "refused"  # the executor said retrying cannot help (PermanentFailure)
ATTEMPTS = "attempts"  # the retry budget's attempts ran out
AGE = "age"  # it kept failing for longer than the retry budget's age
CAUSES = (REFUSED, ATTEMPTS, AGE)


@dataclass(frozen=True)
class NewAction:
    key: str
    kind: str
    queue: str
    payload: dict[str, Any] = field(default_factory=dict)
    not_before_ms: int | None = None


@dataclass(frozen=True)
class Action:
    id: int
    key: str
    kind: str
    queue: str
    payload: dict[str, Any]
    attempts: int
    created_ms: int = 0
    # When its current run of failures began; None while it never failed.
    first_failed_ms: int | None = None


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending_ms: int | None
    dead_by_kind: dict[str, int] = field(default_factory=dict)


def storage_key(key: str) -> str:
    """Keys embed protocol ids, which may be long; the column holds 255 characters.

    A long key keeps its first part (so prefix queries still match) and ends with a hash
    of the whole, so two long keys never collide.
    """
    if len(key) <= KEY_CHARS:
        return key
    return f"{key[: KEY_CHARS - 65]}#{hashlib.sha256(key.encode()).hexdigest()}"


def new_row(action: NewAction) -> dict[str, Any]:
    """The outbox row of a new action (inserted ignoring a key that exists)."""
    now = now_ms()
    return {
        "key": storage_key(action.key),
        "kind": action.kind,
        "queue": action.queue,
        "payload": json.dumps(action.payload, separators=(",", ":"), ensure_ascii=False),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_ms": action.not_before_ms or now,
        "created_ms": now,
    }


async def enqueue(session: AsyncSession, action: NewAction) -> bool:
    """Add ``action`` in the caller's transaction; False when its key already exists."""
    stmt = insert_ignoring_conflicts(session, OutboxAction.__table__).values(new_row(action))
    result = await session.execute(stmt)
    return rowcount(result) > 0


async def mark_dead(
    session: AsyncSession, action_id: int, error: str, cause: str, *, uses_attempt: bool, now: int
) -> bool:
    """Make a pending action a dead letter in the caller's transaction (so what the death
    causes, e.g. a notice to the person waiting, commits with it). False if it was not
    pending any more (another worker finished it)."""
    attempts = OutboxAction.attempts + 1 if uses_attempt else OutboxAction.attempts
    result = await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id == action_id, OutboxAction.status == PENDING)
        .values(
            status=DEAD,
            attempts=attempts,
            last_error=error[:2000],
            dead_ms=now,
            dead_cause=cause,
            first_failed_ms=func.coalesce(OutboxAction.first_failed_ms, now),
            claimed_until_ms=None,
        )
    )
    return rowcount(result) > 0


async def mark_done(session: AsyncSession, action_id: int) -> bool:
    """Mark done in the caller's transaction, so records of the effect commit with it.

    False when the action was not pending any more: another worker (that took it up
    after this one's claim ran out) recorded it first, and its records must not be
    written twice.

    The payload is blanked in the same statement, and the executor's result is not kept:
    the on-done hooks already read it in this transaction (and stored what they need in
    typed columns, e.g. the message map), and a result may hold a session token.
    """
    result = await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id == action_id, OutboxAction.status == PENDING)
        .values(
            status=DONE,
            done_ms=now_ms(),
            last_error=None,
            payload=SCRUBBED,
            result=None,
            claimed_until_ms=None,
        )
    )
    return rowcount(result) > 0


async def mark_done_many(session: AsyncSession, action_ids: Collection[int]) -> set[int]:
    """:func:`mark_done` for several actions in one statement; returns those that were
    still pending (the others were recorded by another worker)."""
    if not action_ids:
        return set()
    result = await session.execute(
        update(OutboxAction)
        .where(OutboxAction.id.in_(list(action_ids)), OutboxAction.status == PENDING)
        .values(
            status=DONE,
            done_ms=now_ms(),
            last_error=None,
            payload=SCRUBBED,
            result=None,
            claimed_until_ms=None,
        )
        .returning(OutboxAction.id)
    )
    return {int(i) for i in result.scalars()}


class Outbox:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, claim_lease_ms: int = CLAIM_LEASE_MS
    ) -> None:
        self._sessions = sessions
        # PostgreSQL: how long a claimed action stays invisible to other workers unless
        # its worker renews the claim (it does, while the action runs). A worker that
        # dies mid-action leaves it to another once the lease is up.
        self.lease_ms = claim_lease_ms

    async def add(self, action: NewAction) -> bool:
        async with self._sessions.begin() as session:
            return await enqueue(session, action)

    async def due(
        self, limit: int, now: int | None = None, busy: Sequence[str] = ()
    ) -> list[Action]:
        """The head action of each queue whose time has come, oldest first, leaving out
        the ``busy`` queues (their head is running in this worker).

        Only a queue's head is eligible, so a room's actions never overtake each other,
        even when an earlier one is waiting out a backoff. On PostgreSQL the returned
        actions are claimed (``FOR UPDATE SKIP LOCKED`` plus a lease, which the worker
        renews while the action runs); SQLite runs one worker, which needs no claim.
        """
        now = now_ms() if now is None else now
        head = aliased(OutboxAction)
        earlier = aliased(OutboxAction)
        has_earlier = (
            select(earlier.id)
            .where(
                and_(
                    earlier.queue == head.queue,
                    earlier.status == PENDING,
                    earlier.id < head.id,
                )
            )
            .exists()
        )
        heads = (
            select(head.id)
            .where(
                head.status == PENDING,
                head.next_attempt_ms <= now,
                or_(head.claimed_until_ms.is_(None), head.claimed_until_ms <= now),
                ~has_earlier,
                *([head.queue.not_in(list(busy))] if busy else []),
            )
            .order_by(head.id)
            .limit(limit)
        )
        async with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Several workers (docs/architecture.md): each locks what it takes, skips what
                # another holds, and claims it for the lease, in one statement, so no two
                # run the same action. The head-of-queue rule still holds: a claimed head
                # stays pending, so its queue's next action waits.
                claimed = (
                    update(OutboxAction)
                    .where(OutboxAction.id.in_(heads.with_for_update(skip_locked=True)))
                    .values(claimed_until_ms=now + self.lease_ms)
                    .returning(OutboxAction)
                    .execution_options(synchronize_session=False)
                )
                rows = sorted(await session.scalars(claimed), key=lambda r: r.id)
            else:
                # One worker on SQLite: nothing to claim.
                rows = list(await session.scalars(heads.with_only_columns(head)))
            return [
                Action(
                    r.id,
                    r.key,
                    r.kind,
                    r.queue,
                    json.loads(r.payload),
                    r.attempts,
                    r.created_ms,
                    r.first_failed_ms,
                )
                for r in rows
            ]

    async def renew_claims(self, action_ids: Sequence[int], now: int | None = None) -> int:
        """Extend the claims of actions this worker is still running (PostgreSQL).

        Only a claim still held is renewed: a finished action's outcome cleared it.
        """
        if not action_ids:
            return 0
        now = now_ms() if now is None else now
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OutboxAction)
                .where(
                    OutboxAction.id.in_(list(action_ids)),
                    OutboxAction.status == PENDING,
                    OutboxAction.claimed_until_ms.is_not(None),
                )
                .values(claimed_until_ms=now + self.lease_ms)
            )
            return rowcount(result)

    async def retry_later(
        self,
        action_id: int,
        error: str,
        next_attempt_ms: int,
        *,
        uses_attempt: bool = True,
        now: int | None = None,
    ) -> None:
        """Schedule another try. ``uses_attempt=False`` for a wait that says nothing about
        the action itself (a rate limit, the other side away): it spends only the age
        budget, which runs from the first failure."""
        now = now_ms() if now is None else now
        await self._set(
            action_id,
            attempts=OutboxAction.attempts + 1 if uses_attempt else OutboxAction.attempts,
            last_error=error[:2000],
            next_attempt_ms=next_attempt_ms,
            first_failed_ms=func.coalesce(OutboxAction.first_failed_ms, now),
            claimed_until_ms=None,
        )

    async def retry_now(self, queue_prefix: str) -> int:
        """Bring forward the retries of queues starting with ``queue_prefix``.

        For when a side is known to be back (e.g. Rocket.Chat reconnected): waiting out a
        backoff that was sized for an outage only delays delivery. A claim is left alone:
        the action is running in some worker.
        """
        now = now_ms()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OutboxAction)
                .where(
                    OutboxAction.status == PENDING,
                    OutboxAction.next_attempt_ms > now,
                    OutboxAction.queue.startswith(queue_prefix, autoescape=True),
                )
                .values(next_attempt_ms=now)
            )
            return rowcount(result)

    async def _set(self, action_id: int, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxAction).where(OutboxAction.id == action_id).values(**values)
            )

    async def save_progress(self, action_id: int, progress: dict[str, Any]) -> None:
        """Note, durably, how far a pending action got with a multi-step effect.

        For effects the receiving server cannot deduplicate by itself (a Rocket.Chat file
        upload, then its posting): a run after a crash reads this and continues instead
        of starting over. Kept in the ``result`` column, which a done action clears.
        """
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxAction)
                .where(OutboxAction.id == action_id, OutboxAction.status == PENDING)
                .values(result=json.dumps(progress, separators=(",", ":")))
            )

    async def progress(self, action_id: int) -> dict[str, Any] | None:
        """What :meth:`save_progress` last noted for a pending action."""
        async with self._sessions() as session:
            raw = await session.scalar(
                select(OutboxAction.result).where(
                    OutboxAction.id == action_id, OutboxAction.status == PENDING
                )
            )
        value = None if raw is None else json.loads(raw)
        return value if isinstance(value, dict) else None

    async def status(self, key: str) -> str | None:
        """The status of the action queued under ``key`` (None: none is)."""
        async with self._sessions() as session:
            status: str | None = await session.scalar(
                select(OutboxAction.status).where(OutboxAction.key == storage_key(key))
            )
        return status

    async def get(self, key: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(OutboxAction).where(OutboxAction.key == storage_key(key))
            )
            if row is None:
                return None
            return {
                "id": row.id,
                "kind": row.kind,
                "queue": row.queue,
                "payload": json.loads(row.payload),
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "dead_cause": row.dead_cause,
            }

    async def stats(self) -> OutboxStats:
        async with self._sessions() as session:
            pending, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxAction.created_ms)).where(
                        OutboxAction.status == PENDING
                    )
                )
            ).one()
            dead = {
                str(kind): int(n)
                for kind, n in await session.execute(
                    select(OutboxAction.kind, func.count())
                    .where(OutboxAction.status == DEAD)
                    .group_by(OutboxAction.kind)
                )
            }
            return OutboxStats(int(pending), sum(dead.values()), oldest, dead)
