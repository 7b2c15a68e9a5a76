"""The request log and the flows, read for the dashboard and written as CSV or JSON.

Exports serve two duties: GDPR Art. 30 (a record of the categories of recipients) and
the CCPA request log (11 CCR §7101: requests and responses kept for 24 months). Every
export is itself recorded in the audit log, with the SHA-256 of what was written, so a
file handed to a regulator can later be matched to the log.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import attrs

from bridge.privacy import audit
from bridge.privacy.processing import PROCESSING_COLUMNS, processing_rows, processing_summary
from bridge.privacy.queries import LedgerQueries
from bridge.storage.audit import OversightReader, RequestRow
from bridge.storage.common import now_ms
from bridge.storage.database import Database

What = Literal["flows", "requests", "processing"]
Format = Literal["csv", "json"]
WHATS: tuple[What, ...] = ("flows", "requests", "processing")
FORMATS: tuple[Format, ...] = ("csv", "json")
Progress = Callable[[int, int], None]
DAY_MS = 86_400_000

# States in which a request still counts against its deadline (the erasure engine's
# ``OPEN``; repeated here as words so this module reads only stored values).
OPEN_STATES = ("received", "verified", "approved", "planned", "executing")
FLOW_COLUMNS = ("day", "recipient", "kind", "items", "categories")
REQUEST_COLUMNS = (
    "id",
    "state",
    "jurisdiction",
    "subject",
    "pseudonym",
    "requester_side",
    "received",
    "due",
    "receipt_due",
    "receipt_confirmed",
    "finished",
    "overdue",
)
FLOW_WINDOW_MS = 31 * DAY_MS  # one query per month of ledger, so progress can be shown
REQUEST_PAGE = 500


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_overdue(r: RequestRow, now: int) -> bool:
    """Open past its (extended) due date, or a CCPA receipt not confirmed in time."""
    if r.state not in OPEN_STATES:
        return False
    late_receipt = (
        r.receipt_due_ms is not None and r.receipt_confirmed_ms is None and r.receipt_due_ms < now
    )
    return r.due_ms < now or late_receipt


@attrs.frozen
class RequestView:
    """An erasure request as the API and the exports show it; the fields are the JSON's
    keys, in its order (``attrs.asdict`` at the edge)."""

    id: str
    state: str
    jurisdiction: str
    # The account id only while the request is open; a finished request names its
    # subject by pseudonym (the erasure engine clears the ids).
    subject: str | None
    pseudonym: str | None
    requester_side: str
    received: str | None
    due: str | None
    receipt_due: str | None
    receipt_confirmed: str | None
    finished: str | None
    overdue: bool


def request_view(r: RequestRow, now: int) -> RequestView:
    return RequestView(
        id=r.id,
        state=r.state,
        jurisdiction=r.jurisdiction,
        subject=r.subject if r.finished_ms is None else None,
        pseudonym=r.pseudonym,
        requester_side=r.requester_side,
        received=iso(r.received_ms),
        due=iso(r.due_ms),
        receipt_due=iso(r.receipt_due_ms),
        receipt_confirmed=iso(r.receipt_confirmed_ms),
        finished=iso(r.finished_ms),
        overdue=is_overdue(r, now),
    )


@dataclass(frozen=True)
class RequestCounts:
    by_state: dict[str, int]
    pending: int
    overdue: int


class RequestLog:
    """Erasure requests as the request log lists them (read-only)."""

    def __init__(self, db: Database) -> None:
        self._reader = OversightReader(db.sessions)

    async def listing(
        self, states: tuple[str, ...] | None = None, limit: int = 200
    ) -> list[RequestRow]:
        async with self._reader.reads() as reads:
            return await reads.requests(states, limit=limit)

    async def of_subject(self, subject_ref: int) -> list[RequestRow]:
        async with self._reader.reads() as reads:
            return await reads.requests_of_subject(subject_ref)

    async def counts(self, now: int | None = None) -> RequestCounts:
        now = now_ms() if now is None else now
        async with self._reader.reads() as reads:
            by_state = await reads.request_states()
            open_rows = await reads.requests(OPEN_STATES, limit=100_000)
        return RequestCounts(
            by_state,
            sum(by_state.get(s, 0) for s in OPEN_STATES),
            sum(1 for r in open_rows if is_overdue(r, now)),
        )


class _HashingWriter:
    """Passes text through to ``out`` and keeps the SHA-256 of its UTF-8 bytes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()

    def write(self, text: str) -> int:
        self.sha256.update(text.encode("utf-8"))
        return self._out.write(text)


@dataclass(frozen=True)
class ExportResult:
    rows: int
    sha256: str


class Exporter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._reader = OversightReader(db.sessions)

    async def export(
        self,
        what: What,
        fmt: Format,
        out: TextIO,
        *,
        actor: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        progress: Progress | None = None,
    ) -> ExportResult:
        """Write the export to ``out`` and record it in the audit log."""
        sink = _HashingWriter(out)
        rows: list[dict[str, Any]] = []
        if what == "flows":
            rows = await self._flows(since_ms, until_ms, progress)
        elif what == "processing":
            rows = [attrs.asdict(r) for r in await processing_rows(self._db)]
        else:
            rows = await self._requests(progress)
        _write(sink, what, fmt, rows, since_ms, until_ms)
        result = ExportResult(len(rows), sink.sha256.hexdigest())
        details = {
            "what": what,
            "format": fmt,
            "rows": result.rows,
            "sha256": result.sha256,
            "since": iso(since_ms),
            "until": iso(until_ms),
        }
        await audit.AuditLog(self._db).record(audit.EXPORT_PRODUCED, actor, None, details)
        return result

    async def _flows(
        self, since: int | None, until: int | None, progress: Progress | None
    ) -> list[dict[str, Any]]:
        if since is None:
            async with self._reader.reads() as reads:
                first = await reads.first_disclosure_ms()
            if first is None:
                return []
            since = first - first % DAY_MS
        end = now_ms() + DAY_MS if until is None else until
        windows = max(1, -(-(end - since) // FLOW_WINDOW_MS))
        queries = LedgerQueries(self._db)
        out: list[dict[str, Any]] = []
        for n in range(windows):
            lo = since + n * FLOW_WINDOW_MS
            hi = min(end, lo + FLOW_WINDOW_MS)
            for f in await queries.flows(since_ms=lo, until_ms=hi):
                out.append(
                    {
                        "day": f.day.isoformat(),
                        "recipient": f.recipient,
                        "kind": f.kind.label,
                        "items": f.items,
                        "categories": {c.category.label: c.items for c in f.categories},
                    }
                )
            if progress is not None:
                progress(n + 1, windows)
        return _merge_days(out)

    async def _requests(self, progress: Progress | None) -> list[dict[str, Any]]:
        now = now_ms()
        out: list[dict[str, Any]] = []
        after: tuple[int, str] | None = None
        async with self._reader.reads() as reads:
            total = await reads.count_requests()
            while True:
                page = await reads.requests_after(after, REQUEST_PAGE)
                out.extend(attrs.asdict(request_view(r, now)) for r in page)
                if progress is not None:
                    progress(len(out), max(total, len(out)))
                if len(page) < REQUEST_PAGE:
                    return out
                after = (page[-1].received_ms, page[-1].id)


def _merge_days(flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Windows are not day-aligned when ``since`` is not: merge a day split in two."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for f in flows:
        key = (f["day"], f["recipient"])
        if key not in merged:
            merged[key] = f
            continue
        into = merged[key]
        into["items"] += f["items"]
        for name, n in f["categories"].items():
            into["categories"][name] = into["categories"].get(name, 0) + n
    return sorted(merged.values(), key=lambda f: (f["day"], f["recipient"]))


def _write(
    sink: _HashingWriter,
    what: What,
    fmt: Format,
    rows: list[dict[str, Any]],
    since: int | None,
    until: int | None,
) -> None:
    if fmt == "json":
        body: dict[str, Any] = {"exported": iso(now_ms()), what: rows}
        if what == "flows":
            body |= {"since": iso(since), "until": iso(until)}
        if what == "processing":
            body |= processing_summary(rows)
        sink.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return
    writer = csv.writer(sink, lineterminator="\n")
    if what == "processing":
        writer.writerow(PROCESSING_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    _cell(
                        ";".join(f"{k}={v}" for k, v in r[c].items()) if "categories" in c else r[c]
                    )
                    for c in PROCESSING_COLUMNS
                ]
            )
    elif what == "flows":
        writer.writerow(FLOW_COLUMNS)
        for f in rows:
            cats = ";".join(f"{k}={v}" for k, v in f["categories"].items())
            writer.writerow([f["day"], f["recipient"], f["kind"], f["items"], cats])
    else:
        writer.writerow(REQUEST_COLUMNS)
        for r in rows:
            writer.writerow([_cell(r[c]) for c in REQUEST_COLUMNS])


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
