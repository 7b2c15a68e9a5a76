"""Every step of an erasure request goes to its request log *and* the audit chain.

The request log (erasure tables, kept 24 months, 11 CCR §7101) answers "what happened to
request 42"; the audit chain makes that answer tamper-evident. Both are written in the
same unit of work as the step itself.
"""

from __future__ import annotations

from bridge.privacy import audit
from bridge.storage.database import UnitOfWork

_KIND_OF_EVENT = {
    "received": audit.REQUEST_RECEIVED,
    "verified": audit.REQUEST_VERIFIED,
    "approved": audit.REQUEST_APPROVED,
    "denied": audit.REQUEST_DENIED,
    "cancelled": audit.REQUEST_CANCELLED,
    "done": audit.REQUEST_FINISHED,
    "partially_done": audit.REQUEST_FINISHED,
    "notice": audit.NOTICE_SENT,
}
# The final report is for the person and the request log; the chain keeps the outcome.
_NO_NOTE = frozenset({"done", "partially_done"})
MAX_NOTE = 300


async def log_event(
    uow: UnitOfWork, request_id: str, event: str, by: str | None, detail: str | None = None
) -> None:
    await uow.erasure.log(request_id, event, by, detail)
    request = await uow.erasure.request(request_id)
    details: dict[str, str] = {"request_id": request_id, "event": event}
    if detail and event not in _NO_NOTE:
        details["note"] = detail[:MAX_NOTE]
    await audit.AuditLog.append(
        uow,
        _KIND_OF_EVENT.get(event, f"request.{event}"),
        by or "bridge",
        None if request is None else request.subject_ref,
        details,
    )


async def log_item(
    uow: UnitOfWork, request_id: str, kind: str, details: dict[str, str | int]
) -> None:
    """One copy acted on: a redaction sent, a Rocket.Chat deletion done."""
    request = await uow.erasure.request(request_id)
    await audit.AuditLog.append(
        uow,
        kind,
        "bridge",
        None if request is None else request.subject_ref,
        {"request_id": request_id, **details},
    )
