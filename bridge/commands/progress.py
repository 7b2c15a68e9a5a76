"""Progress and the final report of erasure requests, sent where they were asked for.

A loop reads each watched request's status from the engine and, when its state moved,
queues one notice (keyed by request and state, so a repeat is harmless); the last one
carries the report. A denial names its reason and the right to complain to a supervisory
authority (GDPR Art. 12(4)).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bridge.commands import texts
from bridge.pipeline import keys, kinds
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_model import ErasureStatus, RequestNotFoundError, RequestState
from bridge.privacy.erasure_status import render_report
from bridge.storage.database import Database

log = logging.getLogger(__name__)


def progress_text(status: ErasureStatus, previous: str) -> str:
    rid, state = status.id, status.state
    if previous == RequestState.VERIFIED.value and state not in (
        RequestState.DENIED,
        RequestState.CANCELLED,
        RequestState.VERIFIED,
    ):
        # Admin approval: the person is told it was approved, whatever step it reached.
        rest = "" if state is RequestState.APPROVED else " " + progress_text(status, state.value)
        return f"Request {rid} was approved and is starting.{rest}"
    if state is RequestState.DENIED:
        reason = next(
            (e.detail for e in reversed(status.log) if e.event == "denied" and e.detail), None
        )
        return (
            f"Request {rid} was denied" + (f": {reason}" if reason else "") + ". You may "
            "lodge a complaint with a supervisory authority (GDPR Art. 77) or seek a judicial "
            "remedy (Art. 79)."
        )
    if state is RequestState.CANCELLED:
        return f"Request {rid} is cancelled; nothing was erased."
    if state.finished:
        return f"Request {rid} has finished.\n\n{render_report(status)}"
    if state is RequestState.EXECUTING:
        return f"Request {rid} is running: {status.items} item(s) to erase."
    return f"Request {rid}: {texts.STATE_WORDS.get(state.value, state.value)}."


class ProgressReporter:
    def __init__(
        self,
        db: Database,
        engine: ErasureEngine,
        wake_outbox: Callable[[], None],
        poll_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._engine = engine
        self.wake_outbox = wake_outbox
        self._poll = poll_seconds

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # a boundary: log, keep reporting next round
                log.exception("Privacy progress step failed")
            await asyncio.sleep(self._poll)

    async def step(self) -> int:
        """One pass over watched requests; returns how many notices were queued."""
        async with self._db.unit_of_work() as uow:
            watches = await uow.commands.open_watches()
        sent = 0
        for watch in watches:
            try:
                status = await self._engine.status(watch.request_id)
            except RequestNotFoundError:
                async with self._db.unit_of_work() as uow:
                    await uow.commands.finish_watch(watch.request_id)
                continue
            state = status.state.value
            if state == watch.last_state:
                continue
            async with self._db.unit_of_work() as uow:
                if not await uow.commands.advance_watch(watch.request_id, watch.last_state, state):
                    continue
                await uow.enqueue(
                    kinds.notice(
                        watch.side,
                        keys.privacy_progress_key(watch.request_id, state),
                        watch.room_id,
                        progress_text(status, watch.last_state),
                    )
                )
                if status.state.finished:
                    await uow.commands.finish_watch(watch.request_id)
            sent += 1
        if sent:
            self.wake_outbox()
        return sent
