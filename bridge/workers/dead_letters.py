"""What an operator does with dead letters (``bridge outbox``, the dashboard): list them,
retry one (queued again at the end of its queue, with a fresh budget) or drop it. Both
decisions are written to the audit log in the transaction that makes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.dead_letters import DeadLetter, DeadLetterError

__all__ = ["DeadLetterError", "DeadLetters", "LetterView", "letter_view"]


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


@attrs.frozen
class LetterView:
    """One dead letter as the CLI's JSON and the dashboard show it (never its payload);
    the fields are the JSON's keys, in its order (``attrs.asdict`` at the edge)."""

    id: int
    kind: str
    queue: str
    attempts: int
    created: str | None
    age_seconds: int
    died: str | None
    cause: str | None
    last_error: str | None
    retryable: bool


def letter_view(letter: DeadLetter, now: int) -> LetterView:
    return LetterView(
        id=letter.id,
        kind=letter.kind,
        queue=letter.queue,
        attempts=letter.attempts,
        created=_iso(letter.created_ms),
        age_seconds=max(0, (now - letter.created_ms) // 1000),
        died=_iso(letter.dead_ms),
        cause=letter.cause,
        last_error=letter.last_error,
        retryable=not letter.erased,
    )


class DeadLetters:
    def __init__(self, db: Database, wake: Callable[[], None] | None = None) -> None:
        self._db = db
        self._audit = AuditLog(db)
        # The outbox worker's wake-up, when running in the bridge (the CLI has none: the
        # running bridge finds the action at its next poll).
        self._wake = wake or (lambda: None)

    async def list(self, limit: int = 500) -> list[DeadLetter]:
        async with self._db.unit_of_work() as uow:
            return await uow.dead_letters.list(limit)

    async def retry(self, action_id: int, actor: str, via: str) -> int:
        """Queue it again; the id of its new row. Raises DeadLetterError."""
        async with self._db.unit_of_work() as uow:
            letter, new_id = await uow.dead_letters.revive(action_id, now_ms())
            details: audit.Details = {
                "action_id": action_id,
                "new_id": new_id,
                "kind": letter.kind,
                "via": via,
            }
            await self._audit.append(uow, audit.OUTBOX_RETRIED, actor, None, details)
        self._wake()
        return new_id

    async def drop(self, action_id: int, actor: str, via: str) -> DeadLetter:
        """Give it up for good (its payload goes). Raises DeadLetterError."""
        async with self._db.unit_of_work() as uow:
            letter = await uow.dead_letters.drop(action_id)
            details: audit.Details = {"action_id": action_id, "kind": letter.kind, "via": via}
            await self._audit.append(uow, audit.OUTBOX_DROPPED, actor, None, details)
        return letter
