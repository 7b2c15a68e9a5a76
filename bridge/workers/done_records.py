"""Finished outbox actions recorded together: one transaction for all that finished
meanwhile (group commit).

Each action that succeeded must be marked done together with what its ``on_done`` hook
records (the message map, the ledger's disclosure, an erasure step's outcome). One
transaction per action made that three or four statements and a commit per bridged
message. Here the first action to finish starts a writer; every action that finishes
while it writes waits for the next one, which records them all at once: the hooks run
(their reads shared through the unit of work's cache, their new rows written together)
and one UPDATE marks them all done. A lone action is recorded at once, as before.

If anything in a batch fails (a hook, the database), or one of its actions turns out
recorded already by another worker (PostgreSQL, several processes: its hook's records
must not stay), the batch rolls back and each of its actions is recorded again in a
transaction of its own, the one-action path, so one action's trouble is its own alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bridge.pipeline.actions import payload_of
from bridge.pipeline.contracts import OnDone
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action

log = logging.getLogger(__name__)

# One action on its own: True when recorded, False when another worker had recorded it;
# raises when recording failed.
RecordOne = Callable[[Action, Any], Awaitable[bool]]
# Reads what a batch's hooks will each look up, in one statement (e.g. their portals),
# given the actions' typed payloads (pipeline.actions.payload_of).
Prefetch = Callable[[UnitOfWork, Sequence[object | None]], Awaitable[None]]
_Waiting = tuple[Action, Any, "asyncio.Future[bool]"]


class DoneRecords:
    def __init__(
        self,
        db: Database,
        on_done: Mapping[str, OnDone],
        record_one: RecordOne,
        prefetch: Prefetch | None = None,
    ) -> None:
        self._db = db
        self._on_done = on_done
        self._record_one = record_one
        self._prefetch = prefetch
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, action: Action, result: Any) -> bool:
        """Mark ``action`` done with its records, as :data:`RecordOne` does."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((action, result, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="outbox done records")
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._write(batch)
        finally:
            for _, _, future in self._waiting:  # stopped: nothing will write these
                if not future.done():
                    future.cancel()

    async def _write(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                outcomes = await self._together([(a, r) for a, r, _ in batch])
            except _RecordedElsewhere:
                pass  # each on its own below, which tells which
            except Exception:  # a boundary: each is recorded on its own below
                log.exception("Recording %d finished actions together failed", len(batch))
            else:
                for action, _, future in batch:
                    if not future.done():
                        future.set_result(outcomes[action.id])
                return
        for action, result, future in batch:
            try:
                outcome = await self._record_one(action, result)
            except Exception as e:  # handed to the action's own task, which reports it
                if not future.done():
                    future.set_exception(e)
            else:
                if not future.done():
                    future.set_result(outcome)

    async def _together(self, finished: Sequence[tuple[Action, Any]]) -> dict[int, bool]:
        async with self._db.unit_of_work() as uow:
            if self._prefetch is not None:
                await self._prefetch(uow, [payload_of(a) for a, _ in finished])
            for action, result in finished:
                hook = self._on_done.get(action.kind)
                if hook is not None:
                    await hook(uow, action, result)
            ids = {a.id for a, _ in finished}
            if await uow.outbox_done_many(ids) != ids:
                raise _RecordedElsewhere  # roll back: the one-action path sorts it out
        return dict.fromkeys(ids, True)


class _RecordedElsewhere(Exception):
    """Some action of the batch was recorded done by another worker first."""
