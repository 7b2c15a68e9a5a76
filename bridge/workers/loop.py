"""The one loop of the background workers: rounds until stopped.

A worker says what one round does (:meth:`WorkerLoop.round`) and, if it needs to, how
it waits between rounds (:meth:`WorkerLoop.idle`). The loop around them is written here
once: ``wake()`` cuts the wait short, ``stop()`` ends the loop after the round in hand,
and a round that raises is logged and followed by the bridge's backoff
(bridge.pipeline.backoff) so a database that is away is not hammered, while the loop
itself stays alive (a background worker is a boundary: docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from bridge.pipeline.backoff import Backoff
from bridge.pipeline.waits import wait_set

log = logging.getLogger(__name__)

# After a failed round: 0.5 s, doubling to 30 s while the rounds keep failing.
ROUND_BACKOFF = Backoff(0.5, 30.0)


class WorkerLoop(ABC):
    name = "worker"

    def __init__(
        self,
        *,
        interval_s: float,
        first_delay_s: float = 0.0,
        failure_backoff: Backoff = ROUND_BACKOFF,
    ) -> None:
        self.interval_s = interval_s
        self._first_delay = first_delay_s
        self._failure_backoff = failure_backoff
        self._wake = asyncio.Event()
        self._stopping = False
        self.failures = 0  # failed rounds in a row

    @abstractmethod
    async def round(self) -> bool:
        """One round; True when there may be more to do at once (no wait before the next)."""

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        if self._first_delay > 0:
            await self._sleep(self._first_delay)
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    busy = await self.round()
                except Exception:  # a boundary: log, back off, the next round tries again
                    self.failures += 1
                    delay = self._failure_backoff.delay(self.failures)
                    log.exception(
                        "%s round failed (%d in a row); next in %.1f s",
                        self.name,
                        self.failures,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                self.failures = 0
                if not busy and not self._stopping:
                    await self.idle()
        finally:
            await self.stopped()

    async def idle(self) -> None:
        """Wait between rounds: until woken, or the interval is up."""
        await self._sleep(self.interval_s)

    async def stopped(self) -> None:  # noqa: B027 - a hook, nothing to do by default
        """Called once the loop ends (stopped or cancelled), to let go of what it runs."""

    async def _sleep(self, seconds: float) -> None:
        await wait_set(self._wake, seconds)
