"""Outbox executors of the erasure engine on the Matrix side.

Each is safe to repeat after a crash between its effect and its ``done`` mark:
redactions and notices use a ``txnId`` derived from the action key (the homeserver
returns the first event instead of sending a second one), the notice DM room is claimed
through an alias, profile changes and leaves are idempotent by nature, and deleting media
that is already gone is treated as done.

Each payload carries what its executor needs (the event and its redactor, the ghost and
its personas, the notice's content): the privacy layer fills it in when it queues the
action, and completes a row an older version queued before it gets here
(``bridge.privacy.erasure_inputs_matrix``). Nothing here reads erasure, persona or
pseudonym state (tests/test_connectors_state.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import attrs
from mautrix.api import Method, Path
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.errors import MatrixStandardRequestError
from mautrix.types import ContentURI, EventID, EventType, RoomAlias, RoomCreatePreset, RoomID

from bridge.bridging.identities import Identities
from bridge.config import Config
from bridge.faults import crash_point
from bridge.ids import UserID
from bridge.matrix.executors import MatrixExecutors
from bridge.matrix.late_retry import existing_redaction, is_late
from bridge.pipeline import keys
from bridge.pipeline.actions import Executors, Run, executor
from bridge.pipeline.contracts import (
    AWAY_STATUSES,
    PermanentFailure,
    RetryLater,
    Unavailable,
)
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy.erasure_kinds import (
    Delivery,
    DeliveryObserved,
    GhostScrub,
    MediaDelete,
    MediaDeleted,
    Notice,
    NoticeSent,
    RedactionSent,
    RedactItem,
    StepDone,
)
from bridge.privacy.mail import mail_action
from bridge.privacy.notices import REQUEST_EVENT, NoticeContent, SupportLookup
from bridge.storage.database import Database

log = logging.getLogger(__name__)

NEUTRAL_NAME = "Deleted user"
_redactions = 0  # per process, for the BRIDGE_CRASH_AT=erasure.redact.<n> crash points


class SynapseAdmin:
    """The few Synapse admin APIs the engine reads (docs/synapse-notes.md)."""

    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self._base = base_url.rstrip("/") + "/_synapse/admin"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session = session

    async def _call(self, method: str, path: str) -> dict[str, Any]:
        try:
            async with self._session.request(
                method, self._base + path, headers=self._headers
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 404:
                    return {}
                if resp.status >= 400:
                    reason = f"admin API {path.split('/')[2]} answered {resp.status}"
                    if resp.status in (401, 403):
                        raise PermanentFailure(reason + " (is homeserver.admin_token an admin?)")
                    away = resp.status in AWAY_STATUSES or resp.status == 429
                    raise (Unavailable if away else RetryLater)(reason)
                return cast(dict[str, Any], body)
        except aiohttp.ClientError as e:
            raise Unavailable(f"admin API unreachable: {type(e).__name__}") from e

    async def destination(self, server: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/federation/destinations/{quote(server)}")

    async def destination_rooms(self, server: str) -> dict[str, int]:
        path = f"/v1/federation/destinations/{quote(server)}/rooms?limit=1000"
        rooms = (await self._call("GET", path)).get("rooms", [])
        return {r["room_id"]: int(r["stream_ordering"]) for r in rooms}

    async def user_media(self, user_id: str) -> list[dict[str, Any]]:
        path = f"/v1/users/{quote(user_id)}/media?limit=1000"
        return list((await self._call("GET", path)).get("media", []))

    async def delete_media(self, server: str, media_id: str) -> None:
        await self._call("DELETE", f"/v1/media/{quote(server)}/{quote(media_id)}")


class MatrixErasureExecutors:
    def __init__(
        self,
        api: AppServiceAPI,
        db: Database,
        ids: Identities,
        config: Config,
        support: SupportLookup,
        admin: SynapseAdmin | None,
    ) -> None:
        self._api = api
        self._db = db
        self._ids = ids
        self._config = config
        self._support = support
        self._admin = admin
        self._mail_enabled = bool(config.mail.host)

    def table(self) -> Executors:
        guard = MatrixExecutors._guard  # noqa: SLF001 - the one mapping of Matrix errors
        return {
            kinds.REDACT: guard(executor(RedactItem, self.redact)),
            kinds.GHOST_SCRUB: guard(executor(GhostScrub, self.ghost_scrub)),
            kinds.MEDIA: guard(executor(MediaDelete, self.media)),
            kinds.NOTICE: guard(executor(Notice, self.notice)),
            kinds.DELIVERY: guard(executor(Delivery, self.delivery)),
        }

    def _intent(self, user_id: str) -> IntentAPI:
        if user_id == self._ids.bot:
            return cast(IntentAPI, self._api.bot_intent())
        return cast(IntentAPI, self._api.intent(UserID(user_id)))

    # -- redactions ----------------------------------------------------------------------

    async def redact(self, run: Run[RedactItem]) -> RedactionSent:
        global _redactions  # noqa: PLW0603 - a crash-test counter, nothing else reads it
        item = run.payload
        if item.room_id is None or item.event_id is None:
            raise PermanentFailure("the redaction names no event")  # completed before it runs
        target = (RoomID(item.room_id), EventID(item.event_id))
        redactor = item.redactor or self._ids.bot
        txn = self._ids.matrix_txn_id(run.key)
        reason = f"erasure request {item.request_id}"
        late = await self._already_redacted(redactor, target) if is_late(run) else None
        try:
            event = late or await self._redact_as(redactor, target, txn, reason)
        except MatrixStandardRequestError as e:
            if e.errcode != "M_FORBIDDEN" or redactor == self._ids.bot:
                raise
            # The ghost lacks power (or left): the bot redacts with its moderator power.
            event = await self._redact_as(self._ids.bot, target, txn + "b", reason)
        _redactions += 1
        crash_point(f"erasure.redact.{_redactions}")
        return RedactionSent(event)

    async def _already_redacted(
        self, user_id: str, target: tuple[RoomID, EventID]
    ) -> EventID | None:
        """A late retry: the first redaction may have outlived the txnId cache."""
        found = await existing_redaction(self._intent(user_id), *target)
        if found is None and user_id != self._ids.bot:
            found = await existing_redaction(self._intent(self._ids.bot), *target)
        return found

    async def _redact_as(
        self, user_id: str, target: tuple[RoomID, EventID], txn: str, reason: str
    ) -> EventID:
        intent = self._intent(user_id)
        room, event = target
        path = Path.v3.rooms[room].redact[event][txn]
        answer = await intent.api.request(Method.PUT, path, content={"reason": reason})
        return EventID(answer["event_id"])

    # -- the ghost's profile and media ---------------------------------------------------

    async def ghost_scrub(self, run: Run[GhostScrub]) -> StepDone:
        """Neutral name, no avatar, then leave every room. Queued after the redactions
        (bridge.privacy.erasure_sequence), so none of them fails for a ghost that left."""
        ghost = run.payload.ghost
        if ghost is None or not self._ids.is_ghost(ghost):
            return StepDone("no ghost")
        redacted, rooms = await self._scrub(self._intent(ghost), run.key)
        detail = (
            f"name and avatar removed; {redacted} earlier membership event(s) "
            f"redacted; left {rooms} room(s)"
        )
        for persona in run.payload.personas:
            # Its name is a pseudonym and it never had an avatar; it goes all the same,
            # like the person's own ghost (docs/partners.md).
            redacted, rooms = await self._scrub(self._intent(persona), f"{run.key}:{persona}")
            detail += f"; a persona: {redacted} membership event(s) redacted, left {rooms} room(s)"
        return StepDone(detail)

    async def _scrub(self, intent: IntentAPI, key: str) -> tuple[int, int]:
        """Neutral name, no avatar, earlier member events redacted, out of every room."""
        await intent.ensure_registered()
        await intent.set_displayname(NEUTRAL_NAME, check_current=False)
        await intent.set_avatar_url(ContentURI(""), check_current=False)
        rooms = await intent.get_joined_rooms()
        redacted = 0
        for room in rooms:
            redacted += await self._redact_old_profiles(intent, room, key)
            await intent.leave_room(room)
        return redacted, len(rooms)

    async def _redact_old_profiles(self, intent: IntentAPI, room: RoomID, key: str) -> int:
        """Redact the earlier m.room.member events about the ghost (its joins, profile
        changes, its invites) that carry its old name or avatar: the room's history keeps
        them after the profile change. The redaction
        algorithm keeps ``membership`` and strips ``displayname`` and ``avatar_url``
        (Matrix spec, Client-Server API "Redactions"), so who was in the room stays.
        After the scrub, before leaving: a ghost that left could not read them."""
        query = {"dir": "b", "limit": "500", "filter": json.dumps({"types": ["m.room.member"]})}
        answer = await intent.api.request(
            Method.GET, Path.v3.rooms[room].messages, query_params=query
        )
        count = 0
        for event in answer.get("chunk", []):
            content = event.get("content") or {}
            if event.get("state_key") != intent.mxid:
                continue
            if content.get("displayname") in (None, NEUTRAL_NAME) and not content.get("avatar_url"):
                continue
            txn = self._ids.matrix_txn_id(f"{key}:member:{event['event_id']}")
            path = Path.v3.rooms[room].redact[EventID(event["event_id"])][txn]
            # An invite is the inviter's event (Synapse copies the invitee's profile into
            # it): the bot redacts those with its moderator power.
            redactor = intent if event.get("sender") == intent.mxid else self._api.bot_intent()
            await redactor.api.request(Method.PUT, path, content={"reason": "erasure"})
            count += 1
        return count

    async def media(self, run: Run[MediaDelete]) -> MediaDeleted:
        """Delete the ghost's uploads (bridged Rocket.Chat files) from our media store.

        Remote servers that cached the media keep their copy; the notice asks for it.
        """
        if self._admin is None:
            raise PermanentFailure("deleting media needs homeserver.admin_token")
        ghost = run.payload.ghost
        if ghost is None:
            return MediaDeleted("no ghost, no media")
        before = run.payload.before_ms
        deleted: list[str] = []
        for media in await self._admin.user_media(ghost):
            if before is not None and int(media.get("created_ts", 0)) >= before:
                continue
            await self._admin.delete_media(self._ids.domain, str(media["media_id"]))
            deleted.append(f"mxc://{self._ids.domain}/{media['media_id']}")
        # The list goes into the notices: servers that cached them are asked to purge.
        return MediaDeleted(f"{len(deleted)} file(s) deleted from the media store", tuple(deleted))

    # -- notices -------------------------------------------------------------------------

    async def notice(self, run: Run[Notice]) -> NoticeSent:
        server = run.payload.server
        if run.payload.content is None:
            raise PermanentFailure("the notice has no content")
        content = attrs.evolve(run.payload.content, organisation=self._ids.domain)
        contacts = await self._support.contacts(server)
        if not contacts.any:
            return NoticeSent((), reason=contacts.reason or "no contact published")
        mailed, why_not = await self._mail(run.key, content, server, contacts.emails)
        rooms: dict[str, str] = {}
        for contact in contacts.users:
            room = await self._dm_room(contact)
            rooms[contact] = room
            bot = self._api.bot_intent()
            base = keys.contact_key(run.key, contact)
            await bot.send_message_event(
                room,
                EventType.ROOM_MESSAGE,
                {"msgtype": "m.notice", "body": content.text()},
                txn_id=self._ids.matrix_txn_id(base + ":text"),
            )
            await bot.send_message_event(
                room,
                EventType.find(REQUEST_EVENT, EventType.Class.MESSAGE),
                content.event(),
                txn_id=self._ids.matrix_txn_id(base + ":data"),
            )
        # Which contact got it in which room: only they, there, can acknowledge it.
        return NoticeSent(
            tuple(contacts.users), contacts.source, rooms, mail_queued=mailed, mail=why_not
        )

    async def _mail(
        self, key: str, content: NoticeContent, server: str, emails: tuple[str, ...]
    ) -> tuple[int, str | None]:
        """Queue the notice to each e-mail contact (sent by the outbox, retried there):
        how many, or why none."""
        if not emails:
            return 0, None
        if not self._mail_enabled:
            return 0, "no mail server configured (mail.host)"
        text = content.text() + "\n\n" + json.dumps(content.event(), indent=2)
        subject = f"Erasure request {content.request_id} from {content.organisation}"
        async with self._db.unit_of_work() as uow:
            for email in emails:
                await uow.enqueue(
                    mail_action(
                        key, email, subject, text, request_id=content.request_id,
                        server=server,
                    )
                )  # fmt: skip
        return len(emails), None

    async def _dm_room(self, contact: UserID) -> RoomID:
        """One DM room per admin contact, claimed through an alias so a retry finds it."""
        bot = self._api.bot_intent()
        await bot.ensure_registered()
        digest = hashlib.sha256(contact.encode()).hexdigest()[:16]
        localpart = self._config.appservice.alias_localpart_template.format(
            room=f"privacy_{digest}"
        )
        try:
            room = await bot.create_room(
                alias_localpart=localpart,
                preset=RoomCreatePreset.PRIVATE,
                is_direct=True,
                name="Privacy requests",
            )
        except MatrixStandardRequestError as e:
            if e.errcode != "M_ROOM_IN_USE":
                raise
            alias = RoomAlias(f"#{localpart}:{self._ids.domain}")
            room = (await bot.resolve_room_alias(alias)).room_id
        try:
            member = await bot.get_state_event(
                room, EventType.ROOM_MEMBER, contact, ensure_joined=False
            )
            membership = str(getattr(member, "membership", ""))
        except MatrixStandardRequestError as e:
            if e.errcode != "M_NOT_FOUND":
                raise
            membership = ""  # never invited
        if membership not in ("invite", "join"):
            await bot.invite_user(room, contact)
        return RoomID(room)

    # -- delivery evidence ---------------------------------------------------------------

    async def delivery(self, run: Run[Delivery]) -> DeliveryObserved:
        """What Synapse's federation destinations API says of the server, once.

        ``last_successful_stream_ordering`` >= the room's queued ``stream_ordering`` means
        everything queued for that room, our redactions included, was delivered
        (docs/synapse-notes.md). Per room, not per event: no API gives an event's
        stream ordering. What it means and whether to look again is the privacy layer's
        (bridge.privacy.erasure_delivery).
        """
        if self._admin is None:
            raise PermanentFailure("delivery evidence needs homeserver.admin_token")
        server, rooms = run.payload.server, run.payload.rooms or ()
        destination = await self._admin.destination(server)
        queued = await self._admin.destination_rooms(server)
        last = destination.get("last_successful_stream_ordering")
        delivered = tuple(
            room for room in rooms if room in queued and last is not None and last >= queued[room]
        )
        failing = destination.get("failure_ts")
        return DeliveryObserved(
            delivered,
            pending=tuple(room for room in rooms if room not in delivered),
            failure_ts=int(failing) if failing else None,
        )
