"""Drains the inbox in arrival order, one event per database transaction.

Each room's events are handled in order; rooms go in parallel when several processes
share a PostgreSQL database (storage.inbox.claim_next).
"""

from __future__ import annotations

import asyncio
import logging

from bridge.faults import crash_point
from bridge.pipeline.contracts import EventHandler, SkipEvent
from bridge.storage.database import Database
from bridge.storage.inbox import DONE, SKIPPED, StoredEvent

log = logging.getLogger(__name__)


class InboxWorker:
    def __init__(
        self,
        db: Database,
        handler: EventHandler,
        *,
        batch_size: int = 100,
        max_attempts: int = 8,
        idle_poll_seconds: float = 5.0,
    ) -> None:
        self._db = db
        self._handler = handler
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._idle_poll = idle_poll_seconds
        self._wake = asyncio.Event()
        self.processed = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                handled = await self.drain_once()
            except Exception:  # e.g. the database is away: keep the loop alive, back off
                log.exception("Inbox round failed; retrying")
                await asyncio.sleep(5.0)
                continue
            if handled == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll)
                except TimeoutError:
                    pass

    async def drain_once(self) -> int:
        """Handle events until none is free to take, or a batch's worth; returns how many
        were taken. An event that fails is left for the next round (and, being its room's
        head, holds its room back until it succeeds or is given up)."""
        failed: list[int] = []
        taken = 0
        while taken < self._batch_size and await self._process_next(failed) is not None:
            taken += 1
        if failed:
            # A failing handler (say, the database briefly locked) must not spin the CPU.
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(len(failed), 6)))
        return taken

    async def _process_next(self, failed: list[int]) -> bool | None:
        """Claim and handle the next event in one transaction: True when handled, False
        when it failed (its id goes to ``failed``), None when there was none to take.

        The claim is part of the handler's transaction: a process killed mid-event
        leaves nothing half done, and on PostgreSQL its lock goes with its connection,
        so another process takes the event up (storage.inbox.claim_next).
        """
        event: StoredEvent | None = None
        try:
            async with self._db.unit_of_work() as uow:
                event = await uow.claim_inbox_event(failed)
                if event is None:
                    return None
                try:
                    await self._handler(uow, event)
                except SkipEvent as skip:
                    await uow.finish_inbox_event(event.id, SKIPPED, str(skip))
                else:
                    await uow.finish_inbox_event(event.id, DONE)
                    crash_point("inbox.before_commit")
        except Exception as e:  # the worker is a boundary: record, retry, never die
            if event is None:
                raise  # no event was taken (the database is away?): the round fails
            failed.append(event.id)
            give_up = event.attempts + 1 >= self._max_attempts
            log.exception(
                "Processing inbox event %s (%s) failed, attempt %d%s",
                event.id,
                event.event_id,
                event.attempts + 1,
                "; giving up" if give_up else "",
            )
            await self._db.inbox.record_failure(
                event.id, f"{type(e).__name__}: {e}", give_up=give_up
            )
            return False
        self.processed += 1
        return True
