"""Prometheus gauges over the request log, the ledger and the outbox, read at scrape time
from durable state (right after a restart, free between scrapes).

Per-recipient ledger totals scan the ledger's covering index; at millions of rows that
takes a while, so they are refreshed at most every ``ledger_every_s`` and served from
the last reading in between.
"""

from __future__ import annotations

import time

from bridge.metrics import (
    BRIDGED_MESSAGES,
    ERASURE_RECIPIENT_ACTIONS,
    ERASURE_REQUESTS,
    LEDGER_DISCLOSURES,
    OUTBOX_LAG,
)
from bridge.privacy.categories import Origin, RecipientKind
from bridge.privacy.report import PENDING, is_failure
from bridge.storage.audit import OversightReader
from bridge.storage.common import now_ms
from bridge.storage.database import Database

DIRECTIONS = {"rc": "rocketchat_to_matrix", "matrix": "matrix_to_rocketchat"}


class OversightGauges:
    def __init__(self, db: Database, ledger_every_s: float = 300.0) -> None:
        self._reader = OversightReader(db.sessions)
        self._ledger_every_s = ledger_every_s
        self._ledger_read_at: float | None = None

    async def refresh(self) -> None:
        now = now_ms()
        async with self._reader.reads() as reads:
            messages = await reads.bridged_messages()
            states = await reads.request_states()
            statuses = await reads.recipient_statuses()
            oldest_due = await reads.oldest_due_action_ms(now)
            due = self._ledger_read_at is None or (
                time.monotonic() - self._ledger_read_at >= self._ledger_every_s
            )
            disclosures = await reads.disclosures_by_server(Origin.MATRIX) if due else None
        for origin, direction in DIRECTIONS.items():
            BRIDGED_MESSAGES.labels(direction).set(messages.get(origin, 0))
        ERASURE_REQUESTS.clear()
        for state, count in states.items():
            ERASURE_REQUESTS.labels(state).set(count)
        ERASURE_RECIPIENT_ACTIONS.labels("pending").set(
            sum(n for s, n in statuses.items() if s == PENDING)
        )
        ERASURE_RECIPIENT_ACTIONS.labels("failed").set(
            sum(n for s, n in statuses.items() if is_failure(s))
        )
        OUTBOX_LAG.set(0 if oldest_due is None else max(0.0, (now - oldest_due) / 1000))
        if disclosures is not None:
            LEDGER_DISCLOSURES.clear()
            for name, kind, items in disclosures:
                LEDGER_DISCLOSURES.labels(name, RecipientKind(kind).label).set(items)
            self._ledger_read_at = time.monotonic()
