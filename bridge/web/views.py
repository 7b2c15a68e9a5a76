"""What the dashboard shows, as JSON-ready dicts: the API returns them as they are and the
pages render the very same dicts, so a figure on a page is the figure the API gives.

Nothing here carries message content: the ledger holds none (only ids, categories, times
and keyed hashes), and request details show status words and counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from typing import Any

import attrs

from bridge.privacy import audit
from bridge.privacy import report as words
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_model import (
    ErasureStatus,
    InvalidTransitionError,
    RequestNotFoundError,
)
from bridge.privacy.exports import OPEN_STATES, RequestLog, iso, request_view
from bridge.privacy.queries import LedgerQueries, RecipientSummary, day_start_ms
from bridge.privacy.retention_views import RoomExpiry, subject_expiries
from bridge.storage.audit import OversightReader
from bridge.storage.common import now_ms
from bridge.storage.database import Database

TOP = 10
SERVERS_CACHE_S = 30.0  # per-server totals scan the ledger; a page view need not redo it


class NotFoundError(LookupError):
    """The thing asked for does not exist (404)."""


class ConflictError(Exception):
    """The request is not in a state that allows this decision (409)."""


def recipient_json(r: RecipientSummary) -> dict[str, Any]:
    return {
        "recipient": r.recipient,
        "kind": r.kind.label,
        "items": r.items,
        "subjects": r.subjects,
        "categories": {c.category.label: c.items for c in r.categories},
        "first": iso(r.first_ms) if r.items else None,
        "last": iso(r.last_ms) if r.items else None,
    }


def status_json(s: ErasureStatus, now: int) -> dict[str, Any]:
    open_ = s.state.value in OPEN_STATES
    late_receipt = (
        s.receipt_due_ms is not None and s.receipt_confirmed_ms is None and s.receipt_due_ms < now
    )
    return {
        "id": s.id,
        "state": s.state.value,
        "subject": s.subject,
        "requester_side": s.requester.side.value,
        "jurisdiction": s.jurisdiction.value,
        "scope": {"room": s.scope.room, "before": iso(s.scope.before_ms)},
        "received": iso(s.received_ms),
        "due": iso(s.due_ms),
        "receipt_due": iso(s.receipt_due_ms),
        "receipt_confirmed": iso(s.receipt_confirmed_ms),
        "extension_reason": s.extension_reason,
        "finished": iso(s.finished_ms),
        "overdue": open_ and (s.due_ms < now or late_receipt),
        "can_decide": s.state.value in ("received", "verified"),
        "can_approve": s.state.value == "verified",
        "items": s.items,
        "matrix": words.labelled(s.matrix),
        "rocketchat": words.labelled(s.rocketchat),
        "recipients": [
            {
                "recipient": r.recipient,
                "kind": r.kind,
                "room_id": r.room_id,
                "reach": r.reach,
                "items": r.items,
                "status": words.label(r.status),
                "detail": r.detail,
                "expected_purge": s.purges.get(r.recipient) if r.room_id else None,
            }
            for r in s.recipients
        ],
        "steps": [
            {"step": t.step, "status": words.label(t.status), "detail": t.detail} for t in s.steps
        ],
        "log": [
            {"at": iso(e.at_ms), "event": e.event, "actor": e.actor, "detail": e.detail}
            for e in s.log
        ],
    }


def expiry_json(e: RoomExpiry) -> dict[str, Any]:
    return {
        "room_id": e.room_id,
        "max_age_ms": e.max_age_ms,
        "files_only": e.files_only,
        "pending": e.pending,
        "expired_before": iso(e.expired_before_ms),
        "first_expiry": iso(e.first_expiry_ms),
        "last_expiry": iso(e.last_expiry_ms),
    }


def entry_json(e: audit.AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": iso(e.at_ms),
        "kind": e.kind,
        "actor": e.actor,
        "subject_ref": e.subject_ref,
        "details": dict(e.details),
        "hash": e.hash,
    }


class DashboardData:
    def __init__(self, db: Database, erasure: ErasureEngine | None) -> None:
        self._db = db
        self._erasure = erasure
        self._ledger = LedgerQueries(db)
        self._requests = RequestLog(db)
        self._oversight = OversightReader(db.sessions)
        self._log = AuditLog(db)
        self._servers: tuple[float, list[dict[str, Any]]] | None = None
        self._servers_lock = asyncio.Lock()

    async def servers(self) -> list[dict[str, Any]]:
        """Every recipient with its totals (items, distinct subjects), by name."""
        async with self._servers_lock:
            if self._servers is not None and time.monotonic() - self._servers[0] < SERVERS_CACHE_S:
                return self._servers[1]
            async with self._oversight.reads() as reads:
                names = await reads.servers()
            out = []
            for name, _kind in names:
                summary = await self._ledger.server_summary(name)
                if summary is not None:
                    out.append(recipient_json(summary))
            self._servers = (time.monotonic(), out)
            return out

    async def overview(
        self, actor: str, via: str, days: int = 30, now: int | None = None
    ) -> dict[str, Any]:
        now = now_ms() if now is None else now
        today = dt.datetime.fromtimestamp(now / 1000, tz=dt.UTC).date()
        first = today - dt.timedelta(days=days - 1)
        flows = await self._ledger.flows(since_ms=day_start_ms(first))
        day_list = [first + dt.timedelta(days=n) for n in range(days)]
        per_server: dict[str, dict[dt.date, int]] = defaultdict(dict)
        kinds: dict[str, str] = {}
        for f in flows:
            per_server[f.recipient][f.day] = f.items
            kinds[f.recipient] = f.kind.label
        totals = {name: sum(by_day.values()) for name, by_day in per_server.items()}
        series = [
            {
                "recipient": name,
                "kind": kinds[name],
                "total": totals[name],
                "items": [per_server[name].get(d, 0) for d in day_list],
            }
            for name in sorted(totals, key=lambda n: (-totals[n], n))
        ]
        servers = await self.servers()
        counts = await self._requests.counts(now)
        open_rows = await self._requests.listing(OPEN_STATES)
        await self._read(actor, via, None, requests=len(open_rows))
        return {
            "days": [d.isoformat() for d in day_list],
            "flows": series,
            "top_by_items": sorted(servers, key=lambda s: (-s["items"], s["recipient"]))[:TOP],
            "top_by_subjects": sorted(
                servers, key=lambda s: (-(s["subjects"] or 0), s["recipient"])
            )[:TOP],
            "requests": {
                "by_state": counts.by_state,
                "pending": counts.pending,
                "overdue": counts.overdue,
                "open": [attrs.asdict(request_view(r, now)) for r in open_rows],
            },
        }

    async def server(self, name: str, after: str | None, limit: int) -> dict[str, Any]:
        summary = await self._ledger.server_summary(name)
        if summary is None:
            raise NotFoundError(f"no recipient {name!r} in the ledger")
        try:
            page = await self._ledger.disclosed_to(name, after=after, limit=limit)
        except ValueError as e:
            raise NotFoundError(str(e)) from None
        kept = await self._ledger.server_aggregate(name)
        return {
            **recipient_json(summary),
            # Pruned items, as day counts that name no one (docs/ledger.md, "Retention").
            "aggregated": None if kept is None else kept.as_json(),
            "disclosures": [
                {
                    "id": i.disclosure_id,
                    "subject_id": i.subject_id,
                    "room_id": i.room_id,
                    "origin": i.origin.label,
                    "categories": list(i.categories.labels),
                    "sent": iso(i.sent_ms),
                    "event_id": i.event_id,
                    "rc_message_id": i.rc_message_id,
                }
                for i in page.items
            ],
            "next": page.next,
        }

    async def subject(self, identifier: str, actor: str, via: str) -> dict[str, Any]:
        """Recipients, categories and requests of one person; the lookup is audited, and
        so is one that finds nobody (the query itself names a person)."""
        try:
            subject = await self._ledger.find_subject(identifier, erased_too=True)
        except LookupError:
            await self._read(actor, via, None, found=False)
            raise
        report = await self._ledger.recipients_of_subject(subject)
        requests = await self._requests.of_subject(subject.id)
        await self._log.record(
            audit.SUBJECT_LOOKUP,
            actor,
            subject.id,
            {"via": via, "recipients": len(report.recipients)},
        )
        now = now_ms()
        return {
            "subject": {
                "id": subject.id,
                "origin": subject.origin.label,
                "matrix_user_id": subject.matrix_user_id,
                "rc_user_id": subject.rc_user_id,
                "rc_username": subject.rc_username,
                "erased_at": iso(subject.erased_ms),
            },
            "recipients": [recipient_json(r) for r in report.recipients],
            "requests": [attrs.asdict(request_view(r, now)) for r in requests],
            # Each item expires its room's max age after it was sent (docs/retention.md).
            "expiry": [expiry_json(e) for e in await subject_expiries(self._db, subject)],
        }

    async def requests(self, state: str | None, actor: str, via: str) -> dict[str, Any]:
        now = now_ms()
        rows = await self._requests.listing(None if state is None else (state,))
        await self._read(actor, via, None, requests=len(rows))
        return {"state": state, "requests": [attrs.asdict(request_view(r, now)) for r in rows]}

    async def request(self, request_id: str, actor: str, via: str) -> dict[str, Any]:
        engine = self._engine()
        async with self._oversight.reads() as reads:
            row = await reads.request_row(request_id)
        try:
            status = await engine.status(request_id)
        except RequestNotFoundError:
            await self._read(actor, via, None, request_id=request_id[:40], found=False)
            raise NotFoundError(f"no erasure request {request_id!r}") from None
        subject_ref = None if row is None else row.subject_ref
        await self._read(actor, via, subject_ref, request_id=request_id)
        return status_json(status, now_ms())

    async def _read(
        self, actor: str, via: str, subject_ref: int | None, **details: str | int | bool
    ) -> None:
        """Every page and API answer that names people is on record: who read it, where."""
        await self._log.record(audit.SUBJECT_LOOKUP, actor, subject_ref, {"via": via, **details})

    async def decide(self, request_id: str, actor: str, approve: bool, reason: str) -> str:
        """Approve or deny a request through the erasure engine."""
        engine = self._engine()
        async with self._oversight.reads() as reads:
            row = await reads.request_row(request_id)
        if row is None:
            raise NotFoundError(f"no erasure request {request_id!r}")
        try:
            if approve:
                await engine.approve(request_id, actor)
            else:
                await engine.deny(request_id, actor, reason)
        except RequestNotFoundError:
            raise NotFoundError(f"no erasure request {request_id!r}") from None
        except InvalidTransitionError as e:
            raise ConflictError(str(e)) from None
        # The engine writes the decision to the request log and the audit chain in the
        # same transaction as the state change.
        return "approved" if approve else "denied"

    def _engine(self) -> ErasureEngine:
        if self._erasure is None:
            raise NotFoundError("the erasure engine is not running in this process")
        return self._erasure

    async def audit_entries(
        self, before: int | None, limit: int, kind: str | None
    ) -> dict[str, Any]:
        entries = await self._log.newest(before_seq=before, limit=limit, kind=kind)
        more = len(entries) == limit and entries[-1].seq > 1
        return {
            "entries": [entry_json(e) for e in entries],
            "next": entries[-1].seq if more else None,
        }

    async def verify(self) -> dict[str, Any]:
        result = await self._log.verify()
        fault = result.fault
        return {
            "ok": result.ok,
            "entries": result.entries,
            "head": result.head_hash,
            "fault": None
            if fault is None
            else {"seq": fault.seq, "kind": fault.kind, "reason": fault.reason, "text": str(fault)},
        }
