"""Reads a request's status from the erasure tables, and renders the person's report."""

from __future__ import annotations

from collections import defaultdict

from bridge.privacy import report as words
from bridge.privacy.categories import RecipientKind
from bridge.privacy.deadlines import Jurisdiction
from bridge.privacy.erasure_model import (
    ErasureScope,
    ErasureStatus,
    LogEntry,
    RecipientStatus,
    Requester,
    RequesterSide,
    RequestId,
    RequestState,
    StepStatus,
)
from bridge.privacy.purge import expected_purge
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import EXPIRY_PREFIX, NOTICE_ROOM, RecipientRecord, RequestRecord


def subject_label(request: RequestRecord) -> str:
    if request.id.startswith(EXPIRY_PREFIX):
        return f"retention of {request.scope_room}"
    if request.pseudonym and not (request.subject_matrix_id or request.subject_rc_id):
        return f"pseudonym:{request.pseudonym}"
    return request.subject_rc_id or request.subject_matrix_id or f"subject:{request.subject_ref}"


async def read_status(uow: UnitOfWork, request: RequestRecord) -> ErasureStatus:
    store = uow.erasure
    counts = await store.status_counts(request.id)
    records = await store.recipients(request.id)
    recipients = tuple(
        RecipientStatus(
            recipient=r.recipient,
            kind=RecipientKind(r.kind).label,
            room_id=None if r.room_id == NOTICE_ROOM else r.room_id,
            reach=r.reach,
            items=r.items,
            status=r.status,
            detail=r.detail,
        )
        for r in records
    )
    return ErasureStatus(
        id=RequestId(request.id),
        state=RequestState(request.state),
        subject=subject_label(request),
        requester=Requester(request.requester, RequesterSide(request.requester_side)),
        jurisdiction=Jurisdiction(request.jurisdiction),
        scope=ErasureScope(request.scope_room, request.scope_before_ms),
        received_ms=request.received_ms,
        due_ms=request.extended_due_ms or request.due_ms,
        receipt_due_ms=request.receipt_due_ms,
        receipt_confirmed_ms=request.receipt_confirmed_ms,
        extension_reason=request.extension_reason,
        finished_ms=request.finished_ms,
        items=sum(counts["matrix"].values()),
        matrix=counts["matrix"],
        rocketchat=counts["rc"],
        recipients=recipients,
        steps=tuple(StepStatus(s.step, s.status, s.detail) for s in await store.steps(request.id)),
        log=tuple(
            LogEntry(e.at_ms, e.event, e.actor, e.detail)
            for e in await store.log_entries(request.id)
        ),
        purges=await _purges(uow, records),
    )


async def _purges(uow: UnitOfWork, records: list[RecipientRecord]) -> dict[str, str]:
    """For each remote server a redaction reached: when it is expected to purge it, from
    the latest redaction's status time and the server's software."""
    reached: dict[str, int] = {}
    for r in records:
        remote = r.kind == RecipientKind.REMOTE_HOMESERVER and r.room_id != NOTICE_ROOM
        if remote and r.status in words.FINAL_MATRIX:
            reached[r.recipient] = max(reached.get(r.recipient, 0), r.updated_ms)
    software = await uow.servers.get(sorted(reached))
    return {s: expected_purge(software.get(s), at) for s, at in reached.items()}


def server_outcome(rows: list[RecipientStatus]) -> str:
    """One line per server: how many rooms reached which status, then the notice."""
    by_status: dict[str, int] = defaultdict(int)
    notice = None
    for r in rows:
        if r.room_id is None:
            notice = words.label(r.status)
        else:
            by_status[words.label(r.status)] += 1
    parts = [
        f"{status} ({n} room{'s' if n != 1 else ''})" for status, n in sorted(by_status.items())
    ]
    if notice is not None:
        parts.append(f"notice: {notice}")
    return "; ".join(parts) or words.label(words.PENDING)


def render_report(status: ErasureStatus) -> str:
    grouped: dict[str, list[RecipientStatus]] = defaultdict(list)
    for r in status.recipients:
        grouped[r.recipient].append(r)
    servers = [
        words.ServerLine(name, rows[0].kind, _with_purge(server_outcome(rows), status, name))
        for name, rows in sorted(grouped.items(), key=lambda kv: (kv[1][0].kind, kv[0]))
    ]
    return words.render(
        request_id=status.id,
        state=status.state.value.replace("_", " "),
        received_ms=status.received_ms,
        due_ms=status.due_ms,
        items=status.items,
        servers=servers,
        steps=[(s.step.replace("_", " "), words.label(s.status)) for s in status.steps],
        unreachable=unreachable(status),
        hidden=status.rocketchat.get(words.HIDDEN, 0),
    )


def _with_purge(outcome: str, status: ErasureStatus, server: str) -> str:
    purge = status.purges.get(server)
    return outcome if purge is None else f"{outcome}; {purge}"


def unreachable(status: ErasureStatus) -> list[tuple[str, str]]:
    """(server, its notice's status) for each server no room redaction could reach."""
    missed = {
        r.recipient
        for r in status.recipients
        if r.room_id is not None and r.status in (words.LEFT_ROOM, words.JOINED_LATER)
    }
    notices = {r.recipient: r.status for r in status.recipients if r.room_id is None}
    return [(server, notices.get(server, words.PENDING)) for server in sorted(missed)]
