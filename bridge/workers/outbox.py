"""Drains the outbox: runs each due action through the executor for its kind.

An action may run again after a crash between its effect and its ``done`` mark, so every
executor must be idempotent through the protocol itself (a Matrix txnId, a Rocket.Chat
client-chosen ``_id``).

Every action has a retry budget (``outbox.max_attempts``, ``outbox.max_age_hours``). An
action that spends it, or that its executor refuses for good, becomes a dead letter: it
leaves its queue's head, so the queue moves on, and its ``OnDead`` hook tells whoever
waits on it (docs/outbox.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bridge.faults import crash_point
from bridge.metrics import OUTBOX_DIED, OUTBOX_DONE
from bridge.pipeline.backoff import Backoff
from bridge.pipeline.contracts import Executor, OnDead, OnDone, PermanentFailure, RetryLater
from bridge.pipeline.waits import wait_set
from bridge.slots import outbox_slot
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.outbox import AGE, ATTEMPTS, REFUSED, Action
from bridge.workers.done_records import DoneRecords, Prefetch
from bridge.workers.loop import WorkerLoop

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
# Seconds a client may sleep in total inside one action (bridge/slots.py): short enough
# not to hold a room's queue.
SLOT_WAIT_S = 5.0
# The longest one action may run before it counts as a failed attempt and is cancelled.
# Every client call has its own timeout, but an action makes several; this bounds the
# whole (and so how long a PostgreSQL claim is renewed for one run).
ACTION_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class RetryBudget:
    """How long an action keeps its queue's head before it becomes a dead letter."""

    max_attempts: int = 12
    max_age_ms: int = 24 * HOUR_MS


class _RecordedElsewhere(Exception):
    """Another worker, which took the action up after this one's claim ran out, recorded
    it done first: its records must not be written twice."""


class OutboxWorker(WorkerLoop):
    name = "Outbox"

    def __init__(
        self,
        db: Database,
        executors: Mapping[str, Executor],
        *,
        on_done: Mapping[str, OnDone] | None = None,
        on_dead: Mapping[str, OnDead] | None = None,
        budget: RetryBudget | None = None,
        clock: Callable[[], int] = now_ms,
        concurrency: int = 8,
        slot_wait_s: float = SLOT_WAIT_S,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,
        idle_poll_seconds: float = 1.0,
        action_timeout_s: float = ACTION_TIMEOUT_S,
        prefetch: Prefetch | None = None,
    ) -> None:
        super().__init__(interval_s=idle_poll_seconds)
        self._db = db
        self._executors = executors
        self._on_done = on_done or {}
        self._on_dead = on_dead or {}
        # Public: read by tests and by whoever changes it while running.
        self.budget = budget or RetryBudget()
        self._clock = clock
        self._slot_wait = slot_wait_s
        self._concurrency = concurrency
        self._backoff = Backoff(base_backoff, max_backoff)
        self._action_timeout = action_timeout_s
        self._running: dict[str, asyncio.Task[None]] = {}
        # Several processes claim actions on PostgreSQL only (docs/architecture.md).
        self._claims = db.engine.dialect.name == "postgresql"
        # Finished actions are recorded together (workers/done_records.py).
        self._done = DoneRecords(db, self._on_done, self._record_one, prefetch)
        db.on_enqueue(self.wake)

    async def run(self) -> None:
        """Run actions as they come due, each queue's head in a task of its own.

        A slow action holds only its own queue: the others go on, a new action starting
        in a queue as soon as its previous one finished (not when the slowest action of
        a round did), so one room's stuck file never delays another room or an erasure.
        """
        await super().run()

    async def round(self) -> bool:
        """Start the due heads of the queues not running an action now."""
        free = self._concurrency - len(self._running)
        if free > 0:
            actions = await self._db.outbox.due(free, now=self._clock(), busy=tuple(self._running))
            for action in actions:
                self._running[action.queue] = asyncio.create_task(self._execute(action))
        return False

    async def idle(self) -> None:
        """Wait until an action finishes, an action is queued, or the idle poll is up."""
        running = self._running
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                [woken, *running.values()],
                timeout=self.interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            woken.cancel()
        for queue, task in list(running.items()):
            if not task.done():
                continue
            del running[queue]
            if not task.cancelled() and task.exception() is not None:
                # Recording its outcome failed (the database?): it is still pending and
                # runs again, as after a crash.
                log.error("Outbox action failed to settle", exc_info=task.exception())

    async def stopped(self) -> None:
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()

    async def drain_once(self) -> int:
        """Run one round: at most one action per queue, queues in parallel."""
        actions = await self._db.outbox.due(self._concurrency, now=self._clock())
        if actions:
            await asyncio.gather(*(self._execute(a) for a in actions))
        return len(actions)

    async def _execute(self, action: Action) -> None:
        executor = self._executors.get(action.kind)
        if executor is None:
            await self._die(action, f"no executor for action kind {action.kind!r}", REFUSED)
            return
        deadline = asyncio.timeout(self._action_timeout)
        try:
            with outbox_slot(self._slot_wait):
                async with self._claim_kept(action.id), deadline:
                    result = await executor(action)
        except RetryLater as e:
            await self._failed(action, f"{e}", e.retry_after, uses_attempt=e.uses_attempt)
            return
        except PermanentFailure as e:
            await self._die(action, str(e), REFUSED)
            return
        except Exception as e:  # a boundary: unknown errors are retried within the budget
            if deadline.expired():
                error = f"it ran longer than {self._action_timeout:.0f}s and was stopped"
                log.warning("Outbox action %s (%s): %s", action.id, action.kind, error)
            else:
                error = f"{type(e).__name__}: {e}"
                log.exception("Outbox action %s (%s) raised", action.id, action.kind)
            await self._failed(action, error, None, uses_attempt=True)
            return
        crash_point("outbox.after_effect")
        try:
            recorded = await self._done.record(action, result)
        except Exception as e:  # the effect happened, its record did not commit
            # Run it again at once: the executor is idempotent, and this also releases a
            # PostgreSQL claim, which would otherwise hold the action for its whole lease.
            log.exception("Recording outbox action %s (%s) failed", action.id, action.kind)
            await self._failed(
                action, f"recording failed: {type(e).__name__}: {e}", 0.0, uses_attempt=True
            )
            return
        if not recorded:
            log.warning(
                "Outbox action %s (%s) was recorded done by another worker first",
                action.id,
                action.kind,
            )
            return
        OUTBOX_DONE.labels(action.kind).inc()

    async def _record_one(self, action: Action, result: Any) -> bool:
        """Mark ``action`` done with its records in a transaction of its own; False when
        another worker had recorded it first (its hook's records are rolled back)."""
        try:
            async with self._db.unit_of_work() as uow:
                hook = self._on_done.get(action.kind)
                if hook is not None:
                    await hook(uow, action, result)
                if not await uow.outbox_done(action.id):
                    raise _RecordedElsewhere  # roll the hook's records back
        except _RecordedElsewhere:
            return False
        return True

    @asynccontextmanager
    async def _claim_kept(self, action_id: int) -> AsyncIterator[None]:
        """On PostgreSQL, renew the action's claim while it runs, so no other process
        takes it up however long it legitimately takes, while one killed mid-action
        leaves it to the others within a lease. The renewal has ended before the
        outcome is written, so it never outlives the claim it renews."""
        if not self._claims:
            yield
            return
        stop = asyncio.Event()
        renewer = asyncio.create_task(self._renew(action_id, stop))
        try:
            yield
        finally:
            stop.set()
            await renewer

    async def _renew(self, action_id: int, stop: asyncio.Event) -> None:
        period = self._db.outbox.lease_ms / 4000
        while True:
            if await wait_set(stop, period):
                return
            try:
                await self._db.outbox.renew_claims([action_id])
            except Exception:  # a boundary: the next renewal tries again
                log.warning("Renewing the claim of outbox action %s failed", action_id)

    def spent(self, action: Action, now: int, *, uses_attempt: bool) -> str | None:
        """Why one more failure of ``action`` at ``now`` spends its budget, if it does."""
        if action.attempts + int(uses_attempt) >= self.budget.max_attempts:
            return ATTEMPTS
        began = now if action.first_failed_ms is None else action.first_failed_ms
        if now - began >= self.budget.max_age_ms:
            return AGE
        return None

    async def _failed(
        self, action: Action, error: str, retry_after: float | None, *, uses_attempt: bool
    ) -> None:
        now = self._clock()
        cause = self.spent(action, now, uses_attempt=uses_attempt)
        if cause is not None:
            await self._die(action, error, cause, uses_attempt=uses_attempt)
            return
        if retry_after is not None:
            delay = retry_after
        elif uses_attempt:
            delay = self._backoff.delay(action.attempts + 1)
        else:
            # No attempt is counted, so the backoff grows with how long it has failed.
            failing_s = (now - (action.first_failed_ms or now)) / 1000
            delay = min(self._backoff.cap, max(self._backoff.base, failing_s))
        log.info("Outbox action %s (%s) retries in %.1fs: %s", action.id, action.kind, delay, error)
        await self._db.outbox.retry_later(
            action.id, error, now + int(delay * 1000), uses_attempt=uses_attempt, now=now
        )

    async def _die(
        self, action: Action, error: str, cause: str, *, uses_attempt: bool = True
    ) -> None:
        now = self._clock()
        try:
            async with self._db.unit_of_work() as uow:
                if not await uow.outbox_dead(
                    action.id, error, cause, uses_attempt=uses_attempt, now=now
                ):
                    return
                hook = self._on_dead.get(action.kind)
                if hook is not None:
                    await hook(uow, action, error)
        except Exception:  # its death did not commit: it stays pending and dies next time
            log.exception("Recording dead letter %s (%s) failed", action.id, action.kind)
            await self._db.outbox.retry_later(
                action.id, error, now + int(self._backoff.cap * 1000), uses_attempt=False, now=now
            )
            return
        OUTBOX_DIED.labels(action.kind).inc()
        log.warning(
            "Outbox action %s (%s) is a dead letter (%s, %d attempts): %s",
            action.id,
            action.kind,
            cause,
            action.attempts + int(uses_attempt),
            error,
        )
