"""Drains the inbox in arrival order, a batch of events per database transaction.

A batch is up to ``batch_size`` pending events, each at the front of its room
(storage.inbox.claim_batch), handled in arrival order in one unit of work, each event in a
savepoint of its own: an event whose handler raises is rolled back alone, counted as a
failed attempt (failed for good after ``max_attempts``) in the same transaction, and
spoils nothing else in the batch. Its room's later events wait for the next round, so a
room's order holds; other rooms go on. What the events read is shared through the unit
of work (storage.cache), what they enqueue is written together at commit
(storage.write_buffer), and the claim and the ``done`` marks are one statement each for
the whole batch.

Each room's events are handled in order; rooms go in parallel when several processes
share a PostgreSQL database, each claiming its own batches.
"""

from __future__ import annotations

import asyncio
import logging

from bridge.faults import crash_point
from bridge.pipeline.backoff import Backoff
from bridge.pipeline.contracts import InboxHandler, InboxPrefetch, SkipEvent
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.inbox import DONE, SKIPPED, StoredEvent
from bridge.workers.loop import WorkerLoop

log = logging.getLogger(__name__)


# After a round with failed events: they wait for the next round, which should not spin
# the CPU (say, while the database is briefly locked).
FAILED_EVENTS_BACKOFF = Backoff(1.0, 30.0, jitter=False)


class InboxWorker(WorkerLoop):
    name = "Inbox"

    def __init__(
        self,
        db: Database,
        handler: InboxHandler,
        *,
        prefetch: InboxPrefetch | None = None,
        batch_size: int = 100,
        max_attempts: int = 8,
        idle_poll_seconds: float = 5.0,
    ) -> None:
        super().__init__(interval_s=idle_poll_seconds)
        self._db = db
        self._handler = handler
        self._prefetch = prefetch
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self.processed = 0

    async def round(self) -> bool:
        return await self.drain_once() > 0

    async def drain_once(self) -> int:
        """Handle batches until none is free to take, or a batch's worth of events was;
        returns how many were taken. An event that fails is left for the next round (and,
        being its room's head, holds its room back until it succeeds or is given up)."""
        failed: list[int] = []
        taken = 0
        while taken < self._batch_size:
            limit = self._batch_size - taken
            try:
                batch = await self._process_batch(limit, failed, careful=False)
            except Exception:  # the batch as a whole: again, each event's rows in its own
                log.exception("An inbox batch failed as a whole; retrying it event by event")
                batch = await self._process_batch(limit, failed, careful=True)
            if batch == 0:
                break
            taken += batch
        if failed:
            await asyncio.sleep(FAILED_EVENTS_BACKOFF.delay(len(failed)))
        return taken

    async def _process_batch(self, limit: int, failed: list[int], *, careful: bool) -> int:
        """Claim and handle a batch in one transaction; returns how many events were
        taken (handled, skipped or failed). The claim is part of the transaction: a
        process killed mid-batch leaves nothing half done, and on PostgreSQL its locks go
        with its connection, so another process takes the events up.

        The rows the events hold back (storage.write_buffer) are written together at
        commit. Should that fail, say on a row the database refuses, the batch is run
        again ``careful``: each event's rows written in its own savepoint, so the row is
        that event's failure alone."""
        handled = failures = 0
        async with self._db.unit_of_work() as uow:
            events = await uow.claim_inbox_batch(limit, failed)
            if self._prefetch is not None and not careful:
                # Outside the events' savepoints: should it fail, the batch is run again
                # careful, without it.
                await self._prefetch(uow, events)
            done: list[int] = []
            held: set[str] = set()  # rooms whose head failed in this batch
            for event in events:
                if event.room_id is not None and event.room_id in held:
                    continue  # its room's head failed: it waits, in order, for the next round
                outcome = await self._handle(uow, event, careful=careful)
                if outcome is None:
                    done.append(event.id)
                elif outcome:
                    failed.append(event.id)
                    failures += 1
                    if event.room_id is not None:
                        held.add(event.room_id)
                handled += 1
            await uow.finish_inbox_events(done, DONE)
            if done:
                crash_point("inbox.before_commit")
        self.processed += handled - failures
        return handled

    async def _handle(self, uow: UnitOfWork, event: StoredEvent, *, careful: bool) -> bool | None:
        """Handle one event of the batch in a savepoint: None when it is done, False when
        skipped (recorded), True when it failed and stays pending (its room waits)."""
        try:
            async with uow.savepoint():
                try:
                    await self._handler(uow, event)
                except SkipEvent as skip:
                    await uow.finish_inbox_event(event.id, SKIPPED, str(skip))
                    return False
                if careful:
                    await uow.inserts.flush()
        except Exception as e:  # the worker is a boundary: record, retry, never die
            give_up = event.attempts + 1 >= self._max_attempts
            log.exception(
                "Processing inbox event %s (%s) failed, attempt %d%s",
                event.id,
                event.event_id,
                event.attempts + 1,
                "; giving up" if give_up else "",
            )
            await uow.count_inbox_failure(event.id, f"{type(e).__name__}: {e}", give_up=give_up)
            return not give_up
        return None
