"""Jobs that one process runs at a time, whichever process that is (docs/architecture.md).

``lead(job, work)`` tries the job's leader lock (bridge.storage.leader) every few
seconds. Once it holds it, it runs ``work`` and asks every few seconds whether it still
holds the lock; when it does not (its database session was lost), it stops ``work`` at
once, since another process may already be doing it. A holder killed outright loses the
lock with its session, and another process takes the job over at its next try.

The ``bridge_leader{job}`` gauge is 1 in the process leading the job, and each change is
logged.
"""

from __future__ import annotations

import asyncio
import logging

from bridge.metrics import LEADER
from bridge.pipeline.contracts import Work
from bridge.storage.leader import LeaderLocks

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, locks: LeaderLocks, *, retry_s: float = 5.0, check_s: float = 2.0) -> None:
        self._locks = locks
        self._retry = retry_s
        self._check = check_s
        self.leading: set[str] = set()

    async def lead(self, job: str, work: Work) -> None:
        LEADER.labels(job).set(0)
        while True:
            if await self._locks.try_acquire(job):
                try:
                    await self._run(job, work)
                finally:
                    await asyncio.shield(self._locks.release(job))
            await asyncio.sleep(self._retry)

    async def _run(self, job: str, work: Work) -> None:
        self.leading.add(job)
        LEADER.labels(job).set(1)
        log.info("This process now leads %s", job)
        task = asyncio.ensure_future(work())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self._check)
                if not task.done() and not await self._locks.holds(job):
                    log.warning("This process lost the %s lock; stopping %s here", job, job)
                    break
        finally:
            self.leading.discard(job)
            LEADER.labels(job).set(0)
            if not task.done():
                task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed here; giving its lock up", job, exc_info=task.exception())
        else:
            log.info("This process no longer leads %s", job)
