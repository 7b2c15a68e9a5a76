"""When a recipient is expected to purge a redacted copy, from what its software does.

A redaction hides an event's content from clients at once, but a server may keep the
original in its database for a while. Only behaviour documented by the software's own
project is used here (docs/retention.md lists each with its source); any other software,
or a server whose software is not known, gets "unknown", never a guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bridge.storage.software import SoftwareRecord

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class PurgeRule:
    # How long the original stays after the redaction arrived, by default.
    keep_ms: int
    # The latest the job that purges it may run after that (its period).
    job_period_ms: int
    label: str  # e.g. "default 7 days"


# Synapse: ``redaction_retention_period`` (default 7d) keeps redacted events unredacted
# in its database (Synapse docs, "Configuring Synapse", redaction_retention_period); a
# job every 5 minutes then replaces them with their redacted form (Synapse
# synapse/storage/databases/main/censor_events.py, _censor_redactions). A server's admin
# may have changed the period: this is what the default does, and the report says so.
KNOWN: dict[str, PurgeRule] = {
    "synapse": PurgeRule(7 * DAY_MS, 5 * MINUTE_MS, "default 7 days"),
}


def expected_purge(software: SoftwareRecord | None, redacted_ms: int) -> str:
    """e.g. "expected purge by 2026-12-13 (Synapse 1.163, default 7 days)"."""
    if software is None or not software.software:
        return "expected purge unknown (server software not known)"
    name = f"{software.software} {software.version or ''}".strip()
    rule = KNOWN.get(software.software.strip().lower())
    if rule is None:
        return f"expected purge unknown ({name}: no documented rule)"
    by = redacted_ms + rule.keep_ms + rule.job_period_ms
    day = dt.datetime.fromtimestamp(by / 1000, tz=dt.UTC).date()
    return f"expected purge by {day.isoformat()} ({name}, {rule.label})"
