"""What the erasure engine writes down when one of its actions is done, or fails.

``ErasureRecords.table()`` are outbox ``OnDone`` hooks: they run in the transaction that
marks the action done, so an item's status says "redaction sent" exactly when the
homeserver accepted the redaction, never before, and a repeat after a crash records it
once. ``observed()`` wraps the executors so a failure that will be retried shows as
"failed: <reason>, retrying" at once (a status update in its own transaction).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bridge.ids import RCUserID
from bridge.pipeline.contracts import (
    Executor,
    OnDead,
    OnDone,
    PermanentFailure,
    RetryLater,
    Waiting,
)
from bridge.privacy import audit
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.erasure_audit import log_event, log_item
from bridge.storage.bridging import Shadow
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM, ErasureStore
from bridge.storage.outbox import Action

log = logging.getLogger(__name__)

Result = dict[str, Any] | None


MATRIX_CLOSED = (words.REDACTION_SENT, words.NOT_NEEDED)
RC_CLOSED = (words.DELETED, words.HIDDEN, words.NOT_NEEDED)
# A room row never moves back from these (evidence only ever accumulates).
ROOM_KEEP = (words.DELIVERED, words.LEFT_ROOM)

__all__ = ["MATRIX_CLOSED", "RC_CLOSED", "ROOM_KEEP", "ErasureRecords", "Waiting", "observed"]


async def room_progress(store: ErasureStore, request_id: str, room_id: str) -> None:
    """Once every Matrix copy in a room is redacted, its recipients hold "redaction sent"."""
    if await store.count_open(request_id, "matrix", MATRIX_CLOSED, room_id=room_id):
        return
    for reach in ("local", "in_room"):
        await store.set_recipient(
            request_id, None, room_id, words.REDACTION_SENT, unless=ROOM_KEEP, reach=reach
        )


async def rc_progress(store: ErasureStore, request_id: str, rooms: list[str]) -> None:
    """A room's Rocket.Chat copies are settled: "hidden" if Rocket.Chat kept any of them."""
    for room in rooms:
        if not await store.count_open(request_id, "rc", RC_CLOSED, room_id=room):
            kept = await store.count_open(
                request_id, "rc", (words.DELETED, words.NOT_NEEDED), room_id=room
            )
            status = words.HIDDEN if kept else words.DELETED
            await store.set_recipient(request_id, None, room, status, reach="rc")


class ErasureRecords:
    def table(self) -> dict[str, OnDone]:
        return {
            kinds.REDACT: self.redacted,
            kinds.RC_DELETE: self.rc_deleted,
            kinds.RC_CLEAN: self.rc_cleaned,
            kinds.GHOST_SCRUB: self.ghost_scrubbed,
            kinds.SHADOW_SCRUB: self.shadow_scrubbed,
            kinds.MEDIA: self.media_deleted,
            kinds.NOTICE: self.notice_sent,
            kinds.DELIVERY: self.delivery_observed,
        }

    async def redacted(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        store, rid = uow.erasure, action.payload["request_id"]
        item = await store.item_by_disclosure(rid, action.payload["disclosure_id"])
        if item is None:
            return
        redaction = (result or {}).get("redaction_id")
        await store.set_items([item.id], matrix_status=words.REDACTION_SENT, redaction_id=redaction)
        await room_progress(store, rid, item.room_id)
        await log_item(
            uow,
            rid,
            audit.REDACTION_SENT,
            {"room_id": item.room_id, "redaction_id": str(redaction or "")},
        )

    async def rc_deleted(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        store, rid = uow.erasure, action.payload["request_id"]
        message = action.payload["rc_message_id"]
        outcome = words.HIDDEN if (result or {}).get("outcome") == words.HIDDEN else words.DELETED
        await store.set_rc_status(rid, [message], outcome)
        items = await store.items(rid, rc_message_id=message)
        await rc_progress(store, rid, sorted({i.room_id for i in items}))
        await log_item(
            uow, rid, audit.DELETION_DONE, {"rc_message_id": message, "outcome": outcome}
        )

    async def rc_cleaned(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        store, rid = uow.erasure, action.payload["request_id"]
        rooms = await store.set_rc_room_status(
            rid, action.payload["rc_room_id"], words.DELETED, RC_CLOSED
        )
        await rc_progress(store, rid, rooms)
        count = int((result or {}).get("count", 0))
        await store.log(rid, "rc_clean", None, f"{count} messages")
        await log_item(
            uow,
            rid,
            audit.DELETION_DONE,
            {"rc_room_id": action.payload["rc_room_id"], "count": count},
        )

    async def step_done(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        detail = (result or {}).get("detail")
        await uow.erasure.set_step(
            action.payload["request_id"], action.payload["step"], "done", detail
        )

    async def media_deleted(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        """Done, and which media went: the notices name them (docs/erasure-protocol.md)."""
        media = list((result or {}).get("media") or [])
        await uow.erasure.set_step(
            action.payload["request_id"],
            action.payload["step"],
            "done",
            (result or {}).get("detail"),
            data=json.dumps(media),
        )

    async def ghost_scrubbed(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        await self.step_done(uow, action, result)
        request = await uow.erasure.request(action.payload["request_id"])
        if request is not None and request.subject_rc_id:
            # The bridge's own copy of the old name and avatar goes too.
            await uow.bridging.set_ghost_profile(RCUserID(request.subject_rc_id), None, None)

    async def shadow_scrubbed(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        await self.step_done(uow, action, result)
        if not result:
            return
        shadow = await uow.bridging.shadow(result["matrix_user_id"])
        if shadow is not None:
            await uow.bridging.save_shadow(
                Shadow(
                    shadow.matrix_user_id,
                    shadow.rc_user_id,
                    result["rc_username"],
                    None,
                    shadow.auth_token,
                )
            )

    async def notice_sent(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        rid, server = action.payload["request_id"], action.payload["server"]
        contacts = (result or {}).get("contacts") or []
        queued = int((result or {}).get("mail_queued") or 0)
        detail: str | None
        if contacts:
            status, detail = words.ADMIN_NOTIFIED, "notified " + ", ".join(contacts)
            if queued:
                detail += f"; e-mail queued to {queued} contact(s)"
        elif queued:
            # Only e-mail contacts: "admin notified" once the mail server took it.
            status, detail = words.PENDING, f"e-mail queued to {queued} contact(s)"
        elif (result or {}).get("mail"):
            status = words.NO_CONTACT
            detail = "e-mail contacts only: " + str((result or {})["mail"])
        else:
            status = words.NO_CONTACT
            detail = str((result or {}).get("reason") or "") or None
        await uow.erasure.set_recipient(
            rid, server, NOTICE_ROOM, status, detail, unless=(words.ACKNOWLEDGED,)
        )
        rooms = (result or {}).get("rooms") or {}
        await uow.erasure.add_notice_contacts(
            rid, server, {str(c): str(r) for c, r in rooms.items()}
        )
        await log_event(uow, rid, "notice", None, f"{server}: {status}")

    async def delivery_observed(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        rid, server = action.payload["request_id"], action.payload["server"]
        for room in (result or {}).get("delivered", []):
            await uow.erasure.set_recipient(rid, server, room, words.DELIVERED, None)
        for room in (result or {}).get("unconfirmed", []):
            await uow.erasure.set_recipient(
                rid,
                server,
                room,
                words.REDACTION_SENT,
                "the homeserver did not report delivery before the polling timeout",
                unless=ROOM_KEEP,
            )


async def record_failure(db: Database, action: Action, reason: str, *, retrying: bool) -> None:
    """Show a failed attempt where the person and the admin will look for it."""
    async with db.unit_of_work() as uow:
        await write_failure(uow, action, words.failed(reason, retrying=retrying))


async def write_failure(uow: UnitOfWork, action: Action, status: str) -> None:
    rid = action.payload.get("request_id")
    if not isinstance(rid, str):
        return
    store = uow.erasure
    if action.kind == kinds.REDACT:
        item = await store.item_by_disclosure(rid, action.payload["disclosure_id"])
        if item is not None:
            await store.set_items([item.id], matrix_status=status)
    elif action.kind == kinds.RC_DELETE:
        await store.set_rc_status(rid, [action.payload["rc_message_id"]], status)
    elif action.kind == kinds.RC_CLEAN:
        await store.set_rc_room_status(rid, action.payload["rc_room_id"], status, RC_CLOSED)
    elif action.kind == kinds.NOTICE:
        await store.set_recipient(
            rid, action.payload["server"], NOTICE_ROOM, status, unless=words.NOTICE_FINAL
        )
    elif "step" in action.payload:
        await store.set_step(rid, action.payload["step"], status)


async def given_up(uow: UnitOfWork, action: Action, error: str) -> None:
    """An erasure action became a dead letter: its item says "failed: <reason>" (no
    longer "retrying"), so the request finishes as partially done and says what."""
    status = words.failed(error, retrying=False)
    await write_failure(uow, action, status)
    rid = action.payload.get("request_id")
    if not isinstance(rid, str):
        return
    store = uow.erasure
    # The rooms' recipients would otherwise stay "pending" in a finished request's report.
    rooms: set[str] = set()
    reaches: tuple[str, ...] = ("rc",)
    if action.kind == kinds.REDACT:
        item = await store.item_by_disclosure(rid, action.payload["disclosure_id"])
        rooms, reaches = ({item.room_id} if item else set()), ("local", "in_room")
    elif action.kind == kinds.RC_DELETE:
        items = await store.items(rid, rc_message_id=action.payload["rc_message_id"])
        rooms = {i.room_id for i in items}
    elif action.kind == kinds.RC_CLEAN:
        rc_room = action.payload["rc_room_id"]
        rooms = {i.room_id for i in await store.items(rid) if i.rc_room_id == rc_room}
    for room in sorted(rooms):
        for reach in reaches:
            await store.set_recipient(rid, None, room, status, reach=reach, unless=ROOM_KEEP)
    await store.log(rid, "given_up", None, f"{action.kind}: {error[:180]}")


def dead_hooks() -> dict[str, OnDead]:
    return dict.fromkeys(kinds.ALL, given_up)


def observed(db: Database, table: Mapping[str, Executor]) -> dict[str, Executor]:
    """Wrap each executor so its failures are recorded before the outbox retries them."""

    def wrap(kind: str, run: Executor) -> Executor:
        async def execute(action: Action) -> Result:
            try:
                return await run(action)
            except Waiting:
                raise
            except RetryLater as e:
                await record_failure(db, action, str(e), retrying=True)
                raise
            except PermanentFailure as e:
                await record_failure(db, action, str(e), retrying=False)
                raise
            except Exception as e:  # the worker retries unknown errors; say so
                await record_failure(db, action, type(e).__name__, retrying=True)
                raise

        return execute

    return {kind: wrap(kind, run) for kind, run in table.items()}
