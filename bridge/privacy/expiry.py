"""Retention expiry: a room's items past its policy's age, redacted by the erasure engine.

An expiry is an erasure request about a room rather than a person (id ``ex-…``, scope the
room and a cut-off): the engine plans, paces and reports it like any erasure, with the
same status words per recipient (docs/retention.md). What differs:

- its items are the room's ledger disclosures sent between the room's previous cut-off
  and this one, whoever sent them;
- a Rocket.Chat-origin message keeps its original (Rocket.Chat's own pruning job owns it,
  with its exceptions for pinned messages and threads); its Matrix copy is redacted;
- a Matrix-origin message is redacted and its Rocket.Chat copy deleted: Rocket.Chat's
  retention is the room's, whichever side wrote the message;
- no notice goes to remote servers' admins: the redactions themselves reach every server
  in the room, and routine retention is not a request they need to act on;
- nobody is pseudonymised when it finishes, since no person asked.
"""

from __future__ import annotations

import logging
import secrets

from bridge.privacy.categories import Category, Origin
from bridge.privacy.deadlines import Jurisdiction, deadlines
from bridge.privacy.erasure_audit import log_event
from bridge.privacy.erasure_model import RequesterSide, RequestId, RequestState
from bridge.privacy.queries import LedgerItem
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import EXPIRY_PREFIX

log = logging.getLogger(__name__)

REQUESTER = "policy:retention"
MESSAGE = Category.MESSAGE_TEXT | Category.EDIT | Category.MEDIA | Category.FILE_NAME
FILES = Category.MEDIA | Category.FILE_NAME


def is_expiry(request_id: str) -> bool:
    return request_id.startswith(EXPIRY_PREFIX)


def files_only(request_id: str) -> bool:
    return request_id.startswith(f"{EXPIRY_PREFIX}f")


def expiry_needs(item: LedgerItem, files_only: bool) -> tuple[bool, bool]:
    """(redact the Matrix event, delete the Rocket.Chat message) for one expired item."""
    cats = item.categories
    if files_only and not cats & FILES:
        return False, False
    if cats & MESSAGE:
        rc_copy = item.origin is Origin.MATRIX and item.rc_message_id is not None
        return item.event_id is not None, rc_copy
    if cats & Category.REACTION and not files_only:
        return item.event_id is not None, False
    return False, False


async def open_expiry(
    uow: UnitOfWork, room_id: str, before_ms: int, *, files_only: bool = False
) -> RequestId | None:
    """Open an expiry of what ``room_id`` holds from before ``before_ms`` (approved at
    once: the policy is the authority). None when an expiry already reaches that far."""
    previous = await uow.erasure.expiry_bounds(room_id)
    if previous is not None and previous >= before_ms:
        return None
    received = now_ms()
    due = deadlines(Jurisdiction.GDPR, received)
    # The id says whether only files expire (a request has no column for it).
    kind = "f" if files_only else "m"
    request_id = RequestId(f"{EXPIRY_PREFIX}{kind}{secrets.token_hex(8)}")
    await uow.erasure.add_request(
        id=request_id,
        subject_ref=0,
        subject_origin=0,
        requester=REQUESTER,
        requester_side=RequesterSide.ADMIN.value,
        jurisdiction=Jurisdiction.GDPR.value,
        scope_room=room_id,
        scope_before_ms=before_ms,
        state=RequestState.APPROVED.value,
        received_ms=received,
        due_ms=due.due_ms,
        receipt_due_ms=None,
    )
    await log_event(uow, request_id, "received", REQUESTER, f"retention expiry of {room_id}")
    await log_event(uow, request_id, "approved", REQUESTER)
    log.info("Retention expiry %s opened for %s", request_id, room_id)
    return request_id
