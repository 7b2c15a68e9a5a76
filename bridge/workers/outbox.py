"""Drains the outbox: runs each due action through the executor for its kind.

An action may run again after a crash between its effect and its ``done`` mark, so every
executor must be idempotent through the protocol itself (a Matrix txnId, a Rocket.Chat
client-chosen ``_id``), as design.md §4 requires.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bridge.faults import crash_point
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action

log = logging.getLogger(__name__)

Result = dict[str, Any] | None
Executor = Callable[[Action], Awaitable[Result]]
# Runs in the transaction that marks the action done (the ledger records disclosures here).
OnDone = Callable[[UnitOfWork, Action, Result], Awaitable[None]]


class RetryLater(Exception):
    """A temporary failure; ``retry_after`` (seconds) overrides the backoff when known."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. the target room no longer exists)."""


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        executors: Mapping[str, Executor],
        *,
        on_done: Mapping[str, OnDone] | None = None,
        concurrency: int = 8,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._executors = executors
        self._on_done = on_done or {}
        self._concurrency = concurrency
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._idle_poll = idle_poll_seconds
        self._wake = asyncio.Event()
        db.on_enqueue(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                drained = await self.drain_once()
            except Exception:  # e.g. the database is away: keep the loop alive, back off
                failures += 1
                log.exception("Outbox round failed (%d in a row)", failures)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            failures = 0
            if drained == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll)
                except TimeoutError:
                    pass

    async def drain_once(self) -> int:
        """Run one round: at most one action per queue, queues in parallel."""
        actions = await self._db.outbox.due(self._concurrency)
        if actions:
            await asyncio.gather(*(self._execute(a) for a in actions))
        return len(actions)

    async def _execute(self, action: Action) -> None:
        executor = self._executors.get(action.kind)
        if executor is None:
            await self._db.outbox.fail(action.id, f"no executor for action kind {action.kind!r}")
            return
        try:
            result = await executor(action)
        except RetryLater as e:
            delay = e.retry_after if e.retry_after is not None else self._backoff(action.attempts)
            await self._retry(action, f"{e}", delay)
            return
        except PermanentFailure as e:
            log.warning("Outbox action %s (%s) failed for good: %s", action.id, action.kind, e)
            await self._db.outbox.fail(action.id, str(e))
            return
        except Exception as e:  # a boundary: unknown errors are retried, never dropped
            log.exception("Outbox action %s (%s) raised", action.id, action.kind)
            await self._retry(action, f"{type(e).__name__}: {e}", self._backoff(action.attempts))
            return
        crash_point("outbox.after_effect")
        try:
            async with self._db.unit_of_work() as uow:
                hook = self._on_done.get(action.kind)
                if hook is not None:
                    await hook(uow, action, result)
                await uow.outbox_done(action.id)
        except Exception as e:  # the effect happened, its record did not commit
            # Run it again at once: the executor is idempotent, and this also releases a
            # PostgreSQL claim, which would otherwise hold the action for its whole lease.
            log.exception("Recording outbox action %s (%s) failed", action.id, action.kind)
            await self._retry(action, f"recording failed: {type(e).__name__}: {e}", 0.0)

    async def _retry(self, action: Action, error: str, delay: float) -> None:
        log.info("Outbox action %s (%s) retries in %.1fs: %s", action.id, action.kind, delay, error)
        await self._db.outbox.retry_later(action.id, error, now_ms() + int(delay * 1000))

    def _backoff(self, attempts: int) -> float:
        # Full jitter keeps many actions that failed together from retrying in lockstep.
        ceiling = min(self._max_backoff, self._base_backoff * 2**attempts)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - not security relevant
