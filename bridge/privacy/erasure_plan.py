"""Turns a subject's ledger disclosures into erasure items, recipients and outbox actions.

Two re-runnable phases, each in transactions guarded by the request's state:

1. ``plan_page``: one ledger page (the ledger's (room, time, id) keyset cursor is the
   resume point) becomes ``erasure_item`` rows and per-(recipient, room) rows. A crash
   repeats at most the page in flight; inserts ignore rows that already exist.
2. ``enqueue``: every action the plan needs, with keys derived from the request id and
   the item, so a repeat after a crash enqueues nothing twice (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bridge.ids import RoomID, ServerName
from bridge.pipeline import keys
from bridge.pipeline.actions import new_action
from bridge.privacy import erasure_delivery as delivery
from bridge.privacy import erasure_inputs_matrix as inputs
from bridge.privacy import erasure_sequence as sequence
from bridge.privacy import report as words
from bridge.privacy.categories import Category, Origin, RecipientKind
from bridge.privacy.erasure_inputs_rc import cleaning
from bridge.privacy.erasure_kinds import (
    Cleaning,
    ErasureStep,
    RCClean,
    RCDelete,
)
from bridge.privacy.erasure_model import ErasureScope, RequestState
from bridge.privacy.expiry import expiry_needs, files_only, is_expiry
from bridge.privacy.queries import LedgerItem, LedgerQueries, Page
from bridge.privacy.subjects import Subject
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure import (
    NOTICE_ROOM,
    ItemRecord,
    JoinedInterval,
    NewItem,
    RequestRecord,
)
from bridge.storage.outbox import NewAction

log = logging.getLogger(__name__)

# Items that are a copy of the subject's own message and are erased as such.
MESSAGE = Category.MESSAGE_TEXT | Category.EDIT | Category.MEDIA | Category.FILE_NAME


@dataclass(frozen=True)
class PlanSettings:
    local_server: ServerName
    rocketchat: str  # the organisation's Rocket.Chat as a ledger recipient name
    bot: str
    admin_token: bool
    # From this many messages of the subject in one Rocket.Chat room, one
    # rooms.cleanHistory (users filter, ignoreThreads false) replaces chat.delete calls.
    rc_bulk_threshold: int = 20
    page: int = 500


def _scope(request: RequestRecord) -> ErasureScope:
    return ErasureScope(request.scope_room, request.scope_before_ms)


def in_scope(item: LedgerItem, scope: ErasureScope) -> bool:
    if scope.room is not None and scope.room not in (item.room_id, item.rc_room_id):
        return False
    return scope.before_ms is None or item.sent_ms < scope.before_ms


def _needs(item: LedgerItem) -> tuple[bool, bool]:
    """(redact the Matrix event, delete the Rocket.Chat message) for one disclosure.

    A mention is another person's message: the subject's name in it is theirs, but the
    message is not, and erasing it would take the author's words (GDPR Art. 17(3)(a)
    balances erasure against others' freedom of expression); the report lists these.
    Profile items are handled by the profile scrub; reactions are redacted on Matrix, and
    the relay removes the Rocket.Chat reaction that mirrors a redacted one.
    """
    cats = item.categories
    if cats & MESSAGE:
        return item.event_id is not None, item.rc_message_id is not None
    if cats & Category.REACTION:
        return item.event_id is not None, False
    return False, False


class ErasurePlanner:
    def __init__(self, db: Database, settings: PlanSettings) -> None:
        self._db = db
        self._s = settings

    # -- phase 1: items and recipients ---------------------------------------------------

    async def plan_page(self, request: RequestRecord) -> bool:
        """Plan one page; True once the whole plan is stored (state ``planned``)."""
        page = await self._page(request)
        scope = _scope(request)
        items = [i for i in page.items if in_scope(i, scope)]
        async with self._db.unit_of_work() as uow:
            store = uow.erasure
            current = await store.request(request.id, lock=True)
            if (
                current is None
                or current.state != RequestState.APPROVED
                or current.plan_cursor != request.plan_cursor
            ):
                return False  # another worker planned this page
            await self._store_items(uow, request, items)
            done = page.next is None
            values: dict[str, Any] = {"plan_cursor": page.next}
            if done:
                values |= {"state": RequestState.PLANNED.value, "plan_cursor": None}
            await store.update_request(request.id, **values)
            if done:
                n = await store.count_items(request.id)
                await store.log(request.id, RequestState.PLANNED.value, None, f"{n} items")
        return done

    async def _page(self, request: RequestRecord) -> Page:
        queries = LedgerQueries(self._db)
        if is_expiry(request.id) and request.scope_room and request.scope_before_ms:
            # From the room's previous cut-off: what was before it has expired already.
            async with self._db.unit_of_work() as uow:
                start = await uow.erasure.expiry_bounds(request.scope_room, request.scope_before_ms)
            return await queries.room_items(
                request.scope_room,
                start or 0,
                request.scope_before_ms,
                after=request.plan_cursor,
                limit=self._s.page,
            )
        subject = Subject(
            request.subject_ref, Origin(request.subject_origin), None, None, None, None
        )
        return await queries.erasure_plan(subject, after=request.plan_cursor, limit=self._s.page)

    async def _store_items(
        self, uow: UnitOfWork, request: RequestRecord, items: list[LedgerItem]
    ) -> None:
        store = uow.erasure
        joined = await store.joined_intervals(sorted({i.room_id for i in items}))
        expiry = is_expiry(request.id)
        rows, counts = [], Counter[tuple[str, str]]()
        for item in items:
            if await store.item_by_disclosure(request.id, item.disclosure_id) is not None:
                continue  # planned before a crash
            redact, delete = expiry_needs(item, files_only(request.id)) if expiry else _needs(item)
            portal = await uow.bridging.portal_by_matrix(item.room_id)
            rows.append(
                NewItem(
                    request_id=request.id,
                    disclosure_id=item.disclosure_id,
                    room_id=item.room_id,
                    portal_id=None if portal is None else portal.id,
                    rc_room_id=item.rc_room_id or (portal.rc_room_id if portal else None),
                    event_id=item.event_id,
                    rc_message_id=item.rc_message_id,
                    origin=int(item.origin),
                    categories=int(item.categories),
                    sent_ms=item.sent_ms,
                    redactor=await self._redactor(uow, item) if redact else None,
                    matrix_status=words.PENDING if redact else words.NOT_NEEDED,
                    rc_status=words.PENDING if delete else words.NOT_NEEDED,
                    recipients=" ".join(item.recipients),
                )
            )
            if redact or delete or not expiry:
                for server in self._recipients(item, delete):
                    counts[(server, item.room_id)] += 1
        await store.add_items(rows)
        for (server, room), n in sorted(counts.items()):
            await self._add_recipient(uow, request.id, server, RoomID(room), joined, expiry)
            await store.count_recipient_items(request.id, server, room, n)

    def _recipients(self, item: LedgerItem, delete: bool) -> list[str]:
        servers = list(item.recipients)
        if delete and item.origin is Origin.ROCKETCHAT and self._s.rocketchat not in servers:
            servers.append(self._s.rocketchat)  # the original, which we delete too
        return servers

    async def _redactor(self, uow: UnitOfWork, item: LedgerItem) -> str:
        """The ghost that sent an item redacts it (or the persona that sent it in a room
        under policy minimise); the bot (power 100 in portal rooms it created) redacts
        Matrix users' own events and anything a ghost cannot."""
        if item.origin is Origin.ROCKETCHAT and item.event_id is not None:
            message = await uow.bridging.message_by_event(item.event_id)
            if message is not None and message.origin == "rc" and message.persona:
                return message.persona
            if message is not None and message.origin == "rc":
                ghost = await uow.bridging.ghost(message.sender)
                if ghost is not None:
                    return ghost.matrix_user_id
        return self._s.bot

    async def _add_recipient(
        self,
        uow: UnitOfWork,
        request_id: str,
        server: str,
        room: RoomID,
        joined: list[JoinedInterval],
        expiry: bool = False,
    ) -> None:
        store = uow.erasure
        if server == self._s.rocketchat:
            kind, reach, status = RecipientKind.ROCKETCHAT, "rc", words.PENDING
        elif server == self._s.local_server:
            kind, reach, status = RecipientKind.LOCAL_HOMESERVER, "local", words.PENDING
        else:
            kind = RecipientKind.REMOTE_HOMESERVER
            here = any(j.room_id == room and j.server == server and j.to_ms is None for j in joined)
            # A server that left gets no room redaction: only a notice can reach it.
            reach, status = ("in_room", words.PENDING) if here else ("left", words.LEFT_ROOM)
            if not expiry:  # routine retention sends no notice to the server's admins
                await store.add_recipient(
                    request_id, server, NOTICE_ROOM, kind, "notice", words.PENDING
                )
        await store.add_recipient(request_id, server, room, kind, reach, status)

    # -- phase 2: actions ----------------------------------------------------------------

    async def enqueue(self, request: RequestRecord) -> bool:
        """Enqueue every action of a planned request and move it to ``executing``."""
        async with self._db.unit_of_work() as uow:
            store = uow.erasure
            current = await store.request(request.id, lock=True)
            if current is None or current.state != RequestState.PLANNED:
                return False
            items = await store.items(request.id)
            actions = self._item_actions(request.id, items, await cleaning(uow, current))
            actions += await self._request_actions(uow, current)
            for action in actions:
                await uow.enqueue(action)
            erased = sorted(
                {
                    i.rc_message_id
                    for i in items
                    if i.rc_message_id and i.rc_status != words.NOT_NEEDED
                }
            )
            # The relay must not echo our deletions back across (it skips deleted parts).
            await store.mark_map_deleted(erased)
            await store.update_request(
                request.id, from_states=[RequestState.PLANNED.value], state="executing"
            )
            await store.log(request.id, "executing", None, f"{len(actions)} actions")
        return True

    def _item_actions(
        self, request_id: str, items: list[ItemRecord], clean: Cleaning
    ) -> list[NewAction]:
        out: list[NewAction] = []
        by_rc_room: dict[str, set[str]] = defaultdict(set)
        for item in items:
            if item.matrix_status == words.PENDING:
                out.append(
                    new_action(
                        inputs.redact_item(request_id, item),
                        key=keys.erasure_redact_key(request_id, item.disclosure_id),
                        queue=keys.erasure_redact_queue(item.room_id),
                    )
                )
            if item.rc_status == words.PENDING and item.rc_room_id and item.rc_message_id:
                by_rc_room[item.rc_room_id].add(item.rc_message_id)
        for rc_room, messages in sorted(by_rc_room.items()):
            if len(messages) >= self._s.rc_bulk_threshold:
                out.append(
                    new_action(
                        RCClean(request_id, rc_room, clean),
                        key=keys.erasure_rc_clean_key(request_id, rc_room),
                        queue=keys.erasure_rc_delete_queue(rc_room),
                    )
                )
                continue
            for message in sorted(messages):
                out.append(
                    new_action(
                        RCDelete(request_id, rc_room, message),
                        key=keys.erasure_rc_delete_key(request_id, message),
                        queue=keys.erasure_rc_delete_queue(rc_room),
                    )
                )
        return out

    async def _request_actions(self, uow: UnitOfWork, request: RequestRecord) -> list[NewAction]:
        store, rid = uow.erasure, request.id
        scope = _scope(request)
        out: list[NewAction] = []

        def step(payload: ErasureStep) -> None:
            out.append(
                new_action(
                    payload,
                    key=keys.erasure_step_key(rid, payload.step),
                    queue=keys.erasure_request_queue(rid),
                )
            )

        # An expiry is about a room: no person's profile, media or shadow to scrub.
        origin = None if is_expiry(rid) else Origin(request.subject_origin)
        if origin is Origin.ROCKETCHAT and request.subject_matrix_id:
            if scope.whole:
                # Queued once the redactions settle (bridge.privacy.erasure_sequence).
                await store.set_step(rid, "ghost_profile", words.PENDING)
            if scope.room is None:
                if self._s.admin_token:
                    await store.set_step(rid, "media", words.PENDING)
                    step(inputs.media_delete(request, "media"))
                else:
                    await store.set_step(
                        rid,
                        "media",
                        words.NOT_POSSIBLE,
                        "deleting bridged media needs homeserver.admin_token",
                    )
        if origin is Origin.MATRIX and scope.whole and request.subject_matrix_id:
            if await uow.bridging.shadow(request.subject_matrix_id) is not None:
                # Queued once the Rocket.Chat deletions settle.
                await store.set_step(rid, "shadow_profile", words.PENDING)
        remotes = await store.recipients(rid)
        # The scrubs and notices whose predecessors are settled already; the others are
        # queued when they settle (bridge.privacy.erasure_sequence).
        out += await sequence.ready_at_plan(uow, rid)
        in_room = sorted({r.recipient for r in remotes if r.reach == "in_room"})
        if in_room and not self._s.admin_token:
            await store.set_step(
                rid,
                delivery.STEP,
                words.NOT_POSSIBLE,
                "reading federation delivery needs homeserver.admin_token",
            )
        if in_room and self._s.admin_token:
            # The servers whose rooms have nothing to redact; the others' first delivery
            # check is queued as their redactions settle (bridge.privacy.erasure_delivery).
            # Watched for erasure_delivery.TIMEOUT_MS from the first check on, like the
            # checks queued when a room's redactions settle later.
            out += await delivery.first_checks(uow, rid)
        return out
