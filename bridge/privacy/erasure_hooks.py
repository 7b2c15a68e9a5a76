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
from typing import Any, TypeVar

from bridge.ids import RCUserID
from bridge.pipeline.actions import Dies, DoneHooks, Executes, Executors, Run, on_dead, on_done
from bridge.pipeline.contracts import (
    PermanentFailure,
    RetryLater,
    Waiting,
)
from bridge.privacy import audit
from bridge.privacy import erasure_delivery as delivery
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import erasure_sequence as sequence
from bridge.privacy import report as words
from bridge.privacy.erasure_audit import log_event, log_item
from bridge.privacy.erasure_kinds import (
    Delivery,
    DeliveryObserved,
    ErasureStep,
    GhostScrub,
    MediaDelete,
    MediaDeleted,
    Notice,
    NoticeSent,
    RCClean,
    RCCleaned,
    RCDelete,
    RCDeleted,
    RedactionSent,
    RedactItem,
    ShadowScrub,
    ShadowScrubbed,
    StepDone,
)
from bridge.storage.bridging import Shadow
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM, ErasureStore

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
# Every erasure kind's payload class (each names its request).
_ERASURE = (RedactItem, RCDelete, RCClean, ErasureStep, Notice, Delivery)


MATRIX_CLOSED = sequence.MATRIX_CLOSED
RC_CLOSED = sequence.RC_CLOSED
ROOM_KEEP = delivery.ROOM_KEEP

__all__ = ["MATRIX_CLOSED", "RC_CLOSED", "ROOM_KEEP", "ErasureRecords", "Waiting", "observed"]


async def matrix_item_settled(uow: UnitOfWork, request_id: str, room_id: str) -> None:
    """The last settled Matrix copy of a room releases the delivery checks of the servers
    in it; the request's last, the steps after them."""
    if not await uow.erasure.count_open(
        request_id, "matrix", MATRIX_CLOSED, room_id=room_id, settled_failures=True
    ):
        await sequence.side_settled(uow, request_id, "matrix")
        await delivery.room_settled(uow, request_id, room_id)


async def rc_item_settled(uow: UnitOfWork, request_id: str, rc_room_id: str) -> None:
    """The last settled Rocket.Chat copy of the request releases the steps after them."""
    if not await uow.erasure.count_open(
        request_id, "rc", RC_CLOSED, rc_room_id=rc_room_id, settled_failures=True
    ):
        await sequence.side_settled(uow, request_id, "rc")


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
    def table(self) -> DoneHooks:
        return {
            kinds.REDACT: on_done(RedactItem, RedactionSent, self.redacted),
            kinds.RC_DELETE: on_done(RCDelete, RCDeleted, self.rc_deleted),
            kinds.RC_CLEAN: on_done(RCClean, RCCleaned, self.rc_cleaned),
            kinds.GHOST_SCRUB: on_done(GhostScrub, StepDone, self.ghost_scrubbed),
            kinds.SHADOW_SCRUB: on_done(ShadowScrub, ShadowScrubbed, self.shadow_scrubbed),
            kinds.MEDIA: on_done(MediaDelete, MediaDeleted, self.media_deleted),
            kinds.NOTICE: on_done(Notice, NoticeSent, self.notice_sent),
            kinds.DELIVERY: on_done(Delivery, DeliveryObserved, self.delivery_observed),
        }

    async def redacted(self, uow: UnitOfWork, run: Run[RedactItem], result: RedactionSent) -> None:
        store, rid = uow.erasure, run.payload.request_id
        item = await store.item_by_disclosure(rid, run.payload.disclosure_id)
        if item is None:
            return
        redaction = result.redaction_id
        await store.set_items([item.id], matrix_status=words.REDACTION_SENT, redaction_id=redaction)
        await room_progress(store, rid, item.room_id)
        await matrix_item_settled(uow, rid, item.room_id)
        await log_item(
            uow,
            rid,
            audit.REDACTION_SENT,
            {"room_id": item.room_id, "redaction_id": str(redaction or "")},
        )

    async def rc_deleted(self, uow: UnitOfWork, run: Run[RCDelete], result: RCDeleted) -> None:
        store, rid = uow.erasure, run.payload.request_id
        message = run.payload.rc_message_id
        outcome = words.HIDDEN if result.hidden else words.DELETED
        await store.set_rc_status(rid, [message], outcome)
        items = await store.items(rid, rc_message_id=message)
        await rc_progress(store, rid, sorted({i.room_id for i in items}))
        await rc_item_settled(uow, rid, run.payload.rc_room_id)
        await log_item(
            uow, rid, audit.DELETION_DONE, {"rc_message_id": message, "outcome": outcome}
        )

    async def rc_cleaned(self, uow: UnitOfWork, run: Run[RCClean], result: RCCleaned) -> None:
        store, rid = uow.erasure, run.payload.request_id
        rooms = await store.set_rc_room_status(
            rid, run.payload.rc_room_id, words.DELETED, RC_CLOSED
        )
        await rc_progress(store, rid, rooms)
        await rc_item_settled(uow, rid, run.payload.rc_room_id)
        await store.log(rid, "rc_clean", None, f"{result.count} messages")
        await log_item(
            uow,
            rid,
            audit.DELETION_DONE,
            {"rc_room_id": run.payload.rc_room_id, "count": result.count},
        )

    async def step_done(self, uow: UnitOfWork, step: ErasureStep, detail: str | None) -> None:
        await uow.erasure.set_step(step.request_id, step.step, "done", detail)

    async def media_deleted(
        self, uow: UnitOfWork, run: Run[MediaDelete], result: MediaDeleted
    ) -> None:
        """Done, and which media went: the notices name them (docs/erasure-protocol.md)."""
        await uow.erasure.set_step(
            run.payload.request_id,
            run.payload.step,
            "done",
            result.detail,
            data=json.dumps(list(result.media)),
        )
        await sequence.media_settled(uow, run.payload.request_id)

    async def ghost_scrubbed(self, uow: UnitOfWork, run: Run[GhostScrub], result: StepDone) -> None:
        await self.step_done(uow, run.payload, result.detail)
        request = await uow.erasure.request(run.payload.request_id)
        if request is not None and request.subject_rc_id:
            # The bridge's own copy of the old name and avatar goes too.
            await uow.bridging.set_ghost_profile(RCUserID(request.subject_rc_id), None, None)

    async def shadow_scrubbed(
        self, uow: UnitOfWork, run: Run[ShadowScrub], result: ShadowScrubbed
    ) -> None:
        await self.step_done(uow, run.payload, result.detail)
        if result.matrix_user_id is None or result.rc_username is None:
            return  # no shadow account was there to scrub
        shadow = await uow.bridging.shadow(result.matrix_user_id)
        if shadow is not None:
            await uow.bridging.save_shadow(
                Shadow(
                    shadow.matrix_user_id,
                    shadow.rc_user_id,
                    result.rc_username,
                    None,
                    shadow.auth_token,
                )
            )

    async def notice_sent(self, uow: UnitOfWork, run: Run[Notice], result: NoticeSent) -> None:
        rid, server = run.payload.request_id, run.payload.server
        contacts, queued = result.contacts, result.mail_queued
        detail: str | None
        if contacts:
            status, detail = words.ADMIN_NOTIFIED, "notified " + ", ".join(contacts)
            if queued:
                detail += f"; e-mail queued to {queued} contact(s)"
        elif queued:
            # Only e-mail contacts: "admin notified" once the mail server took it.
            status, detail = words.PENDING, f"e-mail queued to {queued} contact(s)"
        elif result.mail:
            status = words.NO_CONTACT
            detail = "e-mail contacts only: " + result.mail
        else:
            status = words.NO_CONTACT
            detail = result.reason or None
        await uow.erasure.set_recipient(
            rid, server, NOTICE_ROOM, status, detail, unless=(words.ACKNOWLEDGED,)
        )
        await uow.erasure.add_notice_contacts(rid, server, dict(result.rooms))
        await log_event(uow, rid, "notice", None, f"{server}: {words.label(status)}")

    async def delivery_observed(
        self, uow: UnitOfWork, run: Run[Delivery], result: DeliveryObserved
    ) -> None:
        await delivery.observed(uow, run.payload, result)


async def record_failure(
    db: Database, run: Run[object | None], reason: str, *, retrying: bool
) -> None:
    """Show a failed attempt where the person and the admin will look for it."""
    async with db.unit_of_work() as uow:
        await write_failure(uow, run.payload, words.failed(reason, retrying=retrying))


async def write_failure(uow: UnitOfWork, payload: object | None, status: str) -> None:
    """``status`` on what the action of ``payload`` settles (None: a payload that did not
    fit its class, which names nothing)."""
    store = uow.erasure
    if isinstance(payload, RedactItem):
        item = await store.item_by_disclosure(payload.request_id, payload.disclosure_id)
        if item is not None:
            await store.set_items([item.id], matrix_status=status)
    elif isinstance(payload, RCDelete):
        await store.set_rc_status(payload.request_id, [payload.rc_message_id], status)
    elif isinstance(payload, RCClean):
        await store.set_rc_room_status(payload.request_id, payload.rc_room_id, status, RC_CLOSED)
    elif isinstance(payload, Notice):
        await store.set_recipient(
            payload.request_id, payload.server, NOTICE_ROOM, status, unless=words.NOTICE_FINAL
        )
    elif isinstance(payload, ErasureStep):
        await store.set_step(payload.request_id, payload.step, status)


async def given_up(uow: UnitOfWork, run: Run[object | None], error: str) -> None:
    """An erasure action became a dead letter: its item says "failed: <reason>" (no
    longer "retrying"), so the request finishes as partially done and says what."""
    status = words.failed(error, retrying=False)
    p = run.payload
    await write_failure(uow, p, status)
    if not isinstance(p, _ERASURE):
        return
    rid = p.request_id
    store = uow.erasure
    # The rooms' recipients would otherwise stay "pending" in a finished request's report.
    rooms: set[str] = set()
    reaches: tuple[str, ...] = ("rc",)
    if isinstance(p, RedactItem):
        item = await store.item_by_disclosure(rid, p.disclosure_id)
        rooms, reaches = ({item.room_id} if item else set()), ("local", "in_room")
    elif isinstance(p, RCDelete):
        items = await store.items(rid, rc_message_id=p.rc_message_id)
        rooms = {i.room_id for i in items}
    elif isinstance(p, RCClean):
        rc_room = p.rc_room_id
        rooms = {i.room_id for i in await store.items(rid) if i.rc_room_id == rc_room}
    for room in sorted(rooms):
        for reach in reaches:
            await store.set_recipient(rid, None, room, status, reach=reach, unless=ROOM_KEEP)
    await store.log(rid, "given_up", None, f"{run.kind}: {error[:180]}")
    # Given up is settled: what waited for it goes ahead (bridge.privacy.erasure_sequence).
    if isinstance(p, RedactItem) and rooms:
        await matrix_item_settled(uow, rid, next(iter(rooms)))
    elif isinstance(p, RCDelete | RCClean):
        await rc_item_settled(uow, rid, p.rc_room_id)
    elif isinstance(p, MediaDelete):
        await sequence.media_settled(uow, rid)


def dead_hooks() -> dict[str, Dies]:
    return dict.fromkeys(kinds.ALL, on_dead(given_up))


def observed(db: Database, table: Mapping[str, Executes[Any, Any]]) -> Executors:
    """Wrap each executor so its failures are recorded before the outbox retries them.
    (A payload that does not fit its class fails before the run, for good: its dead-letter
    hook, :func:`given_up`, records that.)"""

    def wrap(registered: Executes[T, R]) -> Executes[T, R]:
        run = registered.run

        async def execute(action: Run[T]) -> R:
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

        return registered.wrapped(execute)

    return {kind: wrap(registered) for kind, registered in table.items()}


def sequenced(db: Database, table: Executors) -> Executors:
    """Rows an older version queued with the plan wait for their predecessors here."""

    async def settled(kind: str, run: Run[Any]) -> str | None:
        rid = run.payload.request_id
        async with db.unit_of_work() as uow:
            if kind == kinds.GHOST_SCRUB and await sequence.open_items(uow, rid, "matrix"):
                return "waiting for the redactions to be sent"
            if kind == kinds.SHADOW_SCRUB and await sequence.open_items(uow, rid, "rc"):
                return "waiting for the Rocket.Chat deletions"
            if kind == kinds.NOTICE and sequence.MEDIA in await sequence.pending_steps(uow, rid):
                return "waiting for the media step"
            if kind == kinds.DELIVERY and await delivery.waits(uow, run.payload):
                return "waiting for the redactions to be sent"
        return None

    def wrap(kind: str, registered: Executes[T, R]) -> Executes[T, R]:
        run = registered.run

        async def execute(action: Run[T]) -> R:
            why = await settled(kind, action)
            if why is not None:
                raise Waiting(why, 1.0)
            return await run(action)

        return registered.wrapped(execute)

    ordered = (kinds.GHOST_SCRUB, kinds.SHADOW_SCRUB, kinds.NOTICE, kinds.DELIVERY)
    return {k: wrap(k, r) if k in ordered else r for k, r in table.items()}
