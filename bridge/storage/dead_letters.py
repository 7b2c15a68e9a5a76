"""Dead letters: outbox actions given up, listed, retried or dropped by an operator.

Plain values in and out, inside the caller's transaction (``UnitOfWork.dead_letters``),
so a retry or a drop commits together with its audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.models import OutboxAction
from bridge.storage.outbox import DEAD, DROPPED, PENDING, SCRUBBED


class DeadLetterError(LookupError):
    """No such dead letter, or it cannot be retried; the message says which."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    key: str
    kind: str
    queue: str
    attempts: int
    created_ms: int
    first_failed_ms: int | None
    dead_ms: int | None  # None for actions given up before this was recorded
    cause: str | None  # refused, attempts or age
    last_error: str | None
    # An erasure covered it: its payload is gone, so it can only be dropped.
    erased: bool


def _letter(r: OutboxAction) -> DeadLetter:
    return DeadLetter(
        r.id,
        r.key,
        r.kind,
        r.queue,
        r.attempts,
        r.created_ms,
        r.first_failed_ms,
        r.dead_ms,
        r.dead_cause,
        r.last_error,
        r.payload == SCRUBBED,
    )


class DeadLetterStore:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def list(self, limit: int = 500) -> list[DeadLetter]:
        """Newest deaths first (those of unknown time last)."""
        rows = await self._s.scalars(
            select(OutboxAction)
            .where(OutboxAction.status == DEAD)
            .order_by(OutboxAction.dead_ms.desc().nulls_last(), OutboxAction.id.desc())
            .limit(limit)
        )
        return [_letter(r) for r in rows]

    async def _dead(self, action_id: int) -> OutboxAction:
        row = await self._s.scalar(
            select(OutboxAction).where(OutboxAction.id == action_id).with_for_update()
        )
        if row is None:
            raise DeadLetterError(f"no outbox action {action_id}")
        if row.status != DEAD:
            raise DeadLetterError(f"outbox action {action_id} is {row.status}, not a dead letter")
        return row

    async def revive(self, action_id: int, now: int) -> tuple[DeadLetter, int]:
        """Queue the action again, at the END of its queue, with a fresh budget; the dead
        letter and the id of its new row.

        At the end, not at its old place: the actions queued after it have run since, and
        putting it before the ones still waiting would let it overtake them. The key is
        kept, so the effect stays idempotent (the protocol ids derive from it), and so is
        its progress note (bridge.rocketchat.uploads).
        """
        row = await self._dead(action_id)
        if row.payload == SCRUBBED:
            raise DeadLetterError(
                f"outbox action {action_id} was covered by an erasure and has no payload "
                "left; it can only be dropped"
            )
        letter = _letter(row)
        fresh = OutboxAction(
            key=row.key,
            kind=row.kind,
            queue=row.queue,
            payload=row.payload,
            # How far a multi-step effect got (an upload's file id): without it, a file
            # whose confirmation went through before the action died is posted again.
            result=row.result,
            status=PENDING,
            attempts=0,
            next_attempt_ms=now,
            created_ms=now,
        )
        await self._s.delete(row)
        await self._s.flush()  # the key is unique: the old row goes first
        self._s.add(fresh)
        await self._s.flush()
        return letter, fresh.id

    async def drop(self, action_id: int) -> DeadLetter:
        """Give it up for good: no payload kept, the key stays so nothing runs it again."""
        row = await self._dead(action_id)
        letter = _letter(row)
        await self._s.execute(
            update(OutboxAction)
            .where(OutboxAction.id == action_id)
            .values(status=DROPPED, payload=SCRUBBED, result=None)
        )
        return letter
