"""Seed → act → assert-gone helpers for erasure integration tests."""

from __future__ import annotations

from typing import Any

from mautrix.types import RoomID

from bridge.ids import RCRoomID
from bridge.privacy.erasure_model import (
    ErasureScope,
    ErasureStatus,
    RecipientStatus,
    Requester,
    RequesterSide,
)
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.rocketchat.rest import RCRestClient
from tests.bridging.helpers import MatrixView
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

OFFICER = Requester("privacy-officer", RequesterSide.ADMIN)


async def say(rc: RCRestClient, room: Portal, view: MatrixView, text: str) -> tuple[str, str]:
    """Post on Rocket.Chat, wait for the Matrix copy; (rc message id, matrix event id)."""
    message = await rc.post_message(RCRoomID(room.rc_room_id), text)

    async def seen() -> str | None:
        for e in await view.messages(room.matrix_room_id):
            if e["content"].get("body") == text:
                return str(e["event_id"])
        return None

    return message.id, await wait_for(seen, 30)


async def ledger_items(stack: BridgeStack, subject: str, n: int) -> None:
    """Wait until the ledger recorded ``n`` items of the subject (the sends are done)."""
    queries = LedgerQueries(stack.app.db)

    async def recorded() -> bool:
        try:
            found = await queries.find_subject(subject)
        except SubjectNotFoundError:
            return False
        page = await queries.erasure_plan(found, limit=1000)
        return len([i for i in page.items if i.event_id]) >= n

    await wait_for(recorded, 30)


async def erase(
    stack: BridgeStack, subject: str, scope: ErasureScope | None = None, timeout: float = 90
) -> ErasureStatus:
    request_id = await stack.app.erasure.request(subject, OFFICER, scope, verified=True)
    return await finished(stack, request_id, timeout)


async def finished(stack: BridgeStack, request_id: str, timeout: float = 90) -> ErasureStatus:
    async def done() -> ErasureStatus | None:
        status = await stack.app.erasure.status(request_id)
        return status if status.state.finished else None

    return await wait_for(done, timeout)


async def content_of(view: MatrixView, room: RoomID, event_id: str) -> dict[str, Any]:
    event = await view.event(room, event_id)
    return dict(event.get("content") or {})


async def redacted_on(view: MatrixView, room: RoomID, event_ids: list[str]) -> bool:
    for event_id in event_ids:
        if await content_of(view, room, event_id):
            return False
    return True


async def seen_redacted(
    view: MatrixView, room: RoomID, event_ids: list[str], timeout: float = 30.0
) -> bool:
    """Every event redacted as ``view``'s homeserver serves it. A request settles once the
    bridge's own homeserver accepted each redaction; another server learns of it over
    federation some time later (seconds on a loaded machine), so this waits for it."""
    return await wait_for(lambda: redacted_on(view, room, event_ids), timeout)


def rows(status: ErasureStatus, recipient: str) -> list[RecipientStatus]:
    return [r for r in status.recipients if r.recipient == recipient]


def room_row(status: ErasureStatus, recipient: str, room: str) -> RecipientStatus:
    (row,) = [r for r in rows(status, recipient) if r.room_id == room]
    return row


def notice_row(status: ErasureStatus, recipient: str) -> RecipientStatus:
    (row,) = [r for r in rows(status, recipient) if r.room_id is None]
    return row
