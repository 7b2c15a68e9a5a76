"""Periodic pruning: what the bridge keeps, it keeps only for as long as it says it does.

Four jobs run shortly after start and then every ``storage.prune_interval_minutes``:

- ``processed_queues``: processed inbox events, done outbox actions and homeserver
  transaction ids older than ``storage.done_retention_hours`` (their bodies went when
  they were processed), then SQLite's write-ahead log is emptied, since it still holds
  the page images written while those bodies were in flight;
- ``request_log``: erasure requests finished more than 24 months ago;
- ``ledger``: disclosure records older than ``privacy.ledger_retention_days``; how many
  items went to each recipient per UTC day and category is kept, naming no one;
- ``shred``: the pseudonym keys of people erased ``privacy.pseudonym_retention_days``
  ago (crypto-shredding, docs/retention.md), recorded in the audit log by count only.

Each job's last completed run is the ``bridge_prune_last_run_timestamp_seconds`` gauge.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bridge.config import Config
from bridge.metrics import PRUNE_LAST_RUN, PRUNED_ROWS
from bridge.privacy.audit import KEYS_SHREDDED, AuditLog
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.ledger import PRUNE_BATCH, DisclosureLedger
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.workers.loop import WorkerLoop

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# A first round soon after start (a bridge restarted often still prunes), but not in the
# middle of the start-up burst of catch-up and portal work.
FIRST_RUN_DELAY_SECONDS = 60.0


@dataclass(frozen=True)
class PruneJob:
    name: str
    # Given the current time in ms, deletes what has expired; returns how many rows went.
    run: Callable[[int], Awaitable[int]]


class Housekeeping(WorkerLoop):
    name = "Housekeeping"

    def __init__(
        self,
        jobs: Sequence[PruneJob],
        *,
        interval_seconds: float,
        first_run_delay_seconds: float = FIRST_RUN_DELAY_SECONDS,
    ) -> None:
        super().__init__(interval_s=interval_seconds, first_delay_s=first_run_delay_seconds)
        self._jobs = tuple(jobs)

    async def round(self) -> bool:
        await self.run_once()
        return False

    async def run_once(self, now: int | None = None) -> dict[str, int]:
        """Run every job once; a failing job is logged and the others still run."""
        now = now_ms() if now is None else now
        removed: dict[str, int] = {}
        for job in self._jobs:
            try:
                count = await job.run(now)
            except Exception:  # a boundary: the next round tries again
                log.exception("Pruning job %s failed; retrying next round", job.name)
                continue
            removed[job.name] = count
            PRUNED_ROWS.labels(job=job.name).inc(count)
            PRUNE_LAST_RUN.labels(job=job.name).set(now / 1000)
            if count:
                log.info("Pruning job %s deleted %d row(s)", job.name, count)
        return removed


def prune_jobs(
    config: Config, db: Database, erasure: ErasureEngine, ledger: DisclosureLedger
) -> list[PruneJob]:
    done_retention_ms = config.storage.done_retention_hours * HOUR_MS
    ledger_retention_ms = config.privacy.ledger_retention_days * DAY_MS

    async def processed_queues(now: int) -> int:
        async with db.unit_of_work() as uow:
            pruned = await uow.prune_processed(now - done_retention_ms)
        # The bodies scrubbed since the last round are still in SQLite's write-ahead log.
        await db.truncate_journal()
        return pruned

    async def request_log(now: int) -> int:
        return await erasure.prune_log(now)

    async def disclosures(now: int) -> int:
        # Batch by batch, each batch with its day counts in one transaction, so live
        # traffic gets the database between batches and a crash loses or doubles nothing.
        total = 0
        while True:
            async with db.unit_of_work() as uow:
                removed = await ledger.prune_older_than(uow, now - ledger_retention_ms)
            total += removed
            if removed < PRUNE_BATCH:
                return total

    return [
        PruneJob("processed_queues", processed_queues),
        PruneJob("request_log", request_log),
        PruneJob("ledger", disclosures),
        PruneJob("shred", lambda now: shred_keys(db, now)),
    ]


async def shred_keys(db: Database, now: int) -> int:
    """Destroy the pseudonym keys whose time has come; returns how many went.

    The audit entry names a role and a count, never whom: the point is that nothing
    links those people any more."""
    async with db.unit_of_work() as uow:
        shredded = await uow.person_keys.shred_due(now)
        if shredded:
            await AuditLog.append(uow, KEYS_SHREDDED, "bridge", None, {"keys": shredded})
    if shredded:
        # secure_delete overwrote the rows' pages in the database file; the write-ahead
        # log still holds their images until it is folded back and emptied.
        await db.truncate_journal()
    return shredded


def housekeeping(
    config: Config, db: Database, erasure: ErasureEngine, ledger: DisclosureLedger
) -> Housekeeping:
    return Housekeeping(
        prune_jobs(config, db, erasure, ledger),
        interval_seconds=config.storage.prune_interval_minutes * 60.0,
    )
