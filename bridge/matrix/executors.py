"""Outbox executors for Matrix actions: the only place the bridge writes to Matrix.

Each executor is safe to repeat: sends reuse a ``txnId`` derived from the action key (the
homeserver deduplicates), room creation claims an alias first, joins and redactions are
idempotent by nature.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar, cast

import attrs
from mautrix.api import Method, Path
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.errors import (
    IntentError,
    MatrixConnectionError,
    MatrixRequestError,
    MatrixStandardRequestError,
    MForbidden,
)
from mautrix.types import (
    ContentURI,
    EventID,
    EventType,
    RoomAlias,
    RoomCreatePreset,
    RoomID,
    UserID,
)

from bridge.bridging.action_values import (
    CreatePortal,
    GhostMembership,
    GhostProfile,
    MatrixMessage,
    MatrixRedact,
    MatrixSend,
    MatrixSent,
    MatrixUpload,
    MemberState,
    PortalCreated,
    ProfileSet,
    Redacted,
    RoomSeed,
    SeedLedger,
    SentAs,
)
from bridge.bridging.identities import Identities
from bridge.bridging.matrix_content import Content, FileInfo
from bridge.bridging.minimise import Minimiser, Outgoing, sent_as
from bridge.config import Config
from bridge.matrix.handlers import JOIN_ROOM, Joined, JoinRoom
from bridge.matrix.late_retry import TXN_FIELD, existing_send, is_late
from bridge.matrix.personas import PersonaIntents
from bridge.media import FetchedFile, FileRefused, may_retry
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import Executes, Executors, Run, executor
from bridge.pipeline.contracts import (
    AWAY_STATUSES,
    PermanentFailure,
    RetryLater,
    Unavailable,
    Waiting,
)
from bridge.pipeline.stages import RELAY, rc_message
from bridge.privacy.partner_gate import room_minimised, room_terms
from bridge.rctypes.links import avatar_path, room_avatar_path
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.outbox import DEAD, DROPPED

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

# Standard Matrix errors after which retrying the same request cannot succeed.
# How often the bot tries to join a room it was invited to before a refusal is final.
JOIN_TRIES = 6  # with the outbox backoff (1, 2, 4, 8, 16 s): about half a minute
_PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_ROOM", "M_BAD_JSON", "M_INVALID_PARAM"}


FileFetcher = Callable[[str], Awaitable[FetchedFile]]


class MatrixExecutors:
    def __init__(
        self,
        api: AppServiceAPI,
        db: Database,
        ids: Identities,
        config: Config,
        fetch_file: FileFetcher,
    ) -> None:
        self._api = api
        self._db = db
        self._ids = ids
        self._config = config
        self._fetch_file = fetch_file
        # Rooms holding a partner under policy minimise see personas (docs/partners.md).
        self._minimiser = Minimiser(ids, config.privacy.hash_key.encode())
        self._personas = PersonaIntents(self._intent)

    def table(self) -> Executors:
        return {
            JOIN_ROOM: self._guard(executor(JoinRoom, self.join_room)),
            kinds.CREATE_PORTAL: self._guard(executor(CreatePortal, self.create_portal)),
            kinds.MATRIX_SEND: self._guard(executor(MatrixSend, self.send)),
            kinds.MATRIX_UPLOAD: self._guard(executor(MatrixUpload, self.upload)),
            kinds.MATRIX_REDACT: self._guard(executor(MatrixRedact, self.redact)),
            kinds.MATRIX_PROFILE: self._guard(executor(GhostProfile, self.profile)),
            kinds.MATRIX_MEMBERSHIP: self._guard(executor(GhostMembership, self.membership)),
            kinds.MATRIX_SEED: self._guard(executor(SeedLedger, self.seed_ledger)),
            kinds.MATRIX_NOTICE: self._guard(executor(kinds.MatrixNotice, self.notice)),
        }

    @staticmethod
    def _guard(registered: Executes[T, R]) -> Executes[T, R]:
        """Map Matrix failures onto the outbox's retry vocabulary."""
        run = registered.run

        async def execute(action: Run[T]) -> R:
            try:
                return await run(action)
            except MatrixStandardRequestError as e:
                raise _classify(e) from e
            except MatrixConnectionError as e:
                raise Unavailable(f"homeserver unreachable: {e}") from e
            except MatrixRequestError as e:
                away = e.http_status in AWAY_STATUSES
                raise (Unavailable if away else RetryLater)(
                    f"homeserver answered {e.http_status}"
                ) from e
            except IntentError as e:
                raise RetryLater(f"{e}: {e.__cause__}") from e

        return registered.wrapped(execute)

    def _intent(self, user_id: str) -> IntentAPI:
        if user_id == self._ids.bot:
            return cast(IntentAPI, self._api.bot_intent())
        return cast(IntentAPI, self._api.intent(UserID(user_id)))

    async def _room(self, portal_id: int) -> RoomID:
        async with self._db.unit_of_work() as uow:
            portal = await uow.bridging.portal_by_id(portal_id)
        if portal is None:
            raise PermanentFailure(f"portal {portal_id} no longer exists")
        if portal.matrix_room_id is None:
            # Its creation runs first in this queue; if it was given up, no use waiting.
            if await self._db.outbox.status(keys.portal_key(portal.rc_room_id)) in (DEAD, DROPPED):
                raise PermanentFailure("the room's Matrix room could not be created")
            raise Waiting("portal room not created yet")
        return RoomID(portal.matrix_room_id)

    async def join_room(self, action: Run[JoinRoom]) -> Joined:
        room_id = RoomID(action.payload.room_id)
        try:
            await self._api.bot_intent().join_room_by_id(room_id)
        except MForbidden as e:
            # An invitation over federation reaches the bot's homeserver (and so the
            # bridge) when the invitee's server signs it, before the inviting server has
            # stored it; a join in between is refused as "not invited" (the inviter's
            # make_join checks its own state: Synapse handlers/federation.py,
            # on_make_join_request). The next tries succeed; a real refusal stays one.
            if action.attempts + 1 >= JOIN_TRIES:
                raise PermanentFailure(f"{e.errcode}: {e.message}") from e
            raise RetryLater(
                f"join refused, the invitation may not be stored yet: {e.message}"
            ) from e
        return Joined(room_id)

    async def create_portal(self, run: Run[CreatePortal]) -> PortalCreated:
        payload = run.payload
        bot = self._api.bot_intent()
        await bot.ensure_registered()
        alias_localpart = payload.alias_localpart
        invitees = [UserID(u) for u in payload.invitees]
        avatar = await self._room_avatar(bot, payload.rc_room_id)
        try:
            room_id = await bot.create_room(
                alias_localpart=alias_localpart,
                preset=RoomCreatePreset.PRIVATE,
                name=payload.name,
                topic=payload.topic,
                initial_state=[
                    {
                        "type": "m.room.history_visibility",
                        "state_key": "",
                        "content": {"history_visibility": payload.history_visibility},
                    },
                    _bridge_state(payload, self._ids.bot),
                    *avatar,
                ],
                # No power-level override: the creator gets 100 by default, and in room
                # version 12 (Synapse's default) creators must not be listed at all
                # (docs/synapse-notes.md, Room versions and ids).
                invitees=invitees,
            )
        except MatrixStandardRequestError as e:
            if e.errcode != "M_ROOM_IN_USE":
                raise
            # A crash after creation: the alias we claimed points at our room.
            alias = RoomAlias(f"#{alias_localpart}:{self._ids.domain}")
            room_id = (await bot.resolve_room_alias(alias)).room_id
            for user_id in invitees:
                with suppress(MatrixStandardRequestError):  # already invited or joined
                    await bot.invite_user(room_id, user_id)
        return PortalCreated(room_id, self._ids.bot, now_ms())

    async def _room_avatar(self, bot: IntentAPI, rc_room_id: str) -> list[dict[str, Any]]:
        """The Rocket.Chat room's avatar as initial state; a room without one is no error."""
        try:
            avatar = await self._fetch_file(room_avatar_path(rc_room_id))
            url = await bot.upload_media(avatar.data, mime_type=avatar.mimetype, filename="avatar")
        except (RetryLater, PermanentFailure, FileRefused, MatrixRequestError) as e:
            log.info("Portal for %s gets no avatar: %s", rc_room_id, e)
            return []
        return [{"type": "m.room.avatar", "state_key": "", "content": {"url": str(url)}}]

    async def send(self, action: Run[MatrixMessage]) -> MatrixSent:
        payload = action.payload
        room_id = await self._room(payload.portal_id)
        async with self._db.unit_of_work() as uow:
            terms = await room_terms(
                uow, room_id, self._ids.domain, self._config.privacy.unknown_servers
            )
            if terms.blocks:
                # A server the partner register says must get nothing more is in the
                # room (docs/partners.md): the room's queue pauses, nothing is lost.
                blocks = "; ".join(b.text() for b in terms.blocks)
                raise Waiting("relay paused: " + blocks)
            out = await self._minimiser.outgoing(uow, payload, terms.minimised)
        await self._personas.prepare(out, room_id)
        intent = self._intent(out.sender)
        joined = await intent.ensure_joined(room_id)
        if out.persona is None:
            self._personas.ghost_in(out.sender, room_id)
        txn = self._ids.matrix_txn_id(action.key)
        found = None
        if out.ghost and (is_late(action) or action.attempts):
            # An earlier attempt may have gone out under the ghost's own name (the room's
            # partners changed in between): the bot, who sees the room, looks for both.
            bot = self._intent(self._ids.bot)
            found = await existing_send(bot, room_id, txn, [out.sender, out.ghost])
        elif is_late(action):
            found = await existing_send(intent, room_id, txn)
        content: Any = {**out.content.json(), TXN_FIELD: txn}  # raw JSON, not a mautrix type
        trace = _trace_key(payload)
        if trace is not None:
            RELAY.mark(trace, "sending")
        event_id = found or await intent.send_message_event(
            room_id, EventType.find(payload.event_type), content, txn_id=txn
        )
        if trace is not None:
            RELAY.mark(trace, "sent")
        who = sent_as(out)
        return MatrixSent(
            event_id,
            room_id,
            joined,
            persona=who.persona,
            mentioned_personas=who.mentioned_personas,
        )

    async def upload(self, action: Run[MatrixMessage]) -> MatrixSent:
        """Copy a Rocket.Chat file into the media repository, then send it as the ghost."""
        payload = action.payload
        link = payload.content.rc_file_url
        if link is None:
            raise PermanentFailure("a matrix.upload payload names no Rocket.Chat file")
        # Older payloads carry the attachment's kind ("file"), which is not a media type.
        content = attrs.evolve(payload.content, rc_file_url=None, rc_file_type=None)
        if await self._minimised(payload.portal_id):
            return await self._as_link(action, content, link)
        try:
            fetched = await self._fetch_file(link)
        except FileRefused as refusal:
            if may_retry(refusal, action.attempts):
                raise RetryLater(refusal.reason) from refusal
            return await self._refuse(action, content, refusal)
        intent = self._intent(payload.sender)
        await intent.ensure_registered()
        mxc = await intent.upload_media(
            fetched.data, mime_type=fetched.mimetype, filename=content.body
        )
        content = attrs.evolve(
            content,
            msgtype=_msgtype(fetched.mimetype),
            url=str(mxc),
            info=FileInfo(fetched.mimetype, fetched.size),
        )
        return await self.send(_with_content(action, content))

    async def _minimised(self, portal_id: int) -> bool:
        room_id = await self._room(portal_id)
        async with self._db.unit_of_work() as uow:
            return bool(await room_minimised(uow, room_id, self._ids.domain))

    async def _as_link(self, action: Run[MatrixMessage], content: Content, link: str) -> MatrixSent:
        """A room holding a partner under ``minimise`` gets a file as its name and a link
        to it on Rocket.Chat (which asks for a Rocket.Chat login), never the file itself
        (docs/partners.md)."""
        base = self._config.rocketchat.url.rstrip("/")
        url = base + link if link.startswith("/") else base
        text = Content(
            msgtype="m.text",
            body=f"{content.body or 'a file'} (a file, shared as a link only: {url})",
            relates_to=content.relates_to,
        )
        result = await self.send(_with_content(action, text))
        return attrs.evolve(result, minimised=True)

    async def _refuse(
        self, action: Run[MatrixMessage], content: Content, refusal: FileRefused
    ) -> MatrixSent:
        """In the file's place, its sender's ghost says it could not be bridged and why.

        Sent like the file would have been (same transaction id, same thread), so it is
        recorded, deleted and erased like the message it stands for."""
        log.info("A Rocket.Chat file (outbox action %d) was not bridged: %s", action.id, refusal)
        notice = Content(
            msgtype="m.notice",
            body=f"A file could not be bridged from Rocket.Chat: {refusal.reason}.",
            relates_to=content.relates_to,
        )
        result = await self.send(_with_content(action, notice))
        return attrs.evolve(result, refused=refusal.reason)

    async def redact(self, action: Run[MatrixRedact]) -> Redacted:
        payload = action.payload
        room_id = await self._room(payload.portal_id)
        sender = payload.sender
        if self._ids.is_ghost(sender) and not self._ids.is_persona(sender):
            async with self._db.unit_of_work() as uow:
                if await self._minimiser.servers(uow, room_id):
                    # Redacting would bring the ghost back into a room that sees only
                    # personas: the bot redacts with its moderator power instead.
                    sender = self._ids.bot
        intent = self._intent(sender)
        event_id = await intent.redact(room_id, EventID(payload.event_id), reason=payload.reason)
        return Redacted(event_id)

    async def notice(self, run: Run[kinds.MatrixNotice]) -> kinds.NoticeSent:
        """The bot answers in a room (command replies, refusals, reports)."""
        event_id = await self._api.bot_intent().send_message_event(
            RoomID(run.payload.room_id),
            EventType.ROOM_MESSAGE,
            {"msgtype": "m.notice", "body": run.payload.text},
            txn_id=self._ids.matrix_txn_id(run.key),
        )
        return kinds.NoticeSent(event_id)

    async def seed_ledger(self, run: Run[SeedLedger]) -> RoomSeed:
        """Members (left ones too: they hold copies) and visibility of a linked room."""
        room_id = RoomID(run.payload.room_id)
        bot = self._api.bot_intent()
        try:
            return await _members_and_visibility(bot, room_id)
        except MatrixStandardRequestError as e:
            if e.errcode == "M_FORBIDDEN":
                raise Waiting("the bot has not joined the room yet") from e
            raise

    async def profile(self, run: Run[GhostProfile]) -> ProfileSet:
        """Name and avatar of a ghost, copied from Rocket.Chat; the avatar only if changed."""
        p = run.payload
        intent = self._intent(p.user_id)
        await intent.ensure_registered()
        await self._out_of_minimised_rooms(p.user_id, await intent.get_joined_rooms())
        await intent.set_displayname(p.display_name, check_current=False)
        avatar_url, avatar_hash = p.avatar_url, p.avatar_hash
        if p.rc_username:
            try:
                avatar = await self._fetch_file(avatar_path(p.rc_username))
            except FileRefused as e:  # the name is still worth setting
                log.info("Ghost avatar not copied: %s", e)
            else:
                digest = hashlib.sha256(avatar.data).hexdigest()
                if digest != avatar_hash:
                    avatar_url = str(
                        await intent.upload_media(avatar.data, mime_type=avatar.mimetype)
                    )
                    await intent.set_avatar_url(ContentURI(avatar_url), check_current=False)
                    avatar_hash = digest
        # The profile now shows in every room the ghost is in: the ledger records each.
        return ProfileSet(
            rooms=tuple(str(r) for r in await intent.get_joined_rooms()),
            avatar_url=avatar_url,
            avatar_hash=avatar_hash,
            avatar_changed=avatar_hash != p.avatar_hash,
        )

    async def _out_of_minimised_rooms(self, ghost: str, rooms: list[RoomID]) -> None:
        """A ghost's new profile would be copied into every room it is in (the
        homeserver rewrites its member events): it leaves the minimised ones first."""
        for room in rooms:
            async with self._db.unit_of_work() as uow:
                minimised = await self._minimiser.servers(uow, room)
            if minimised:
                await self._personas.ghost_out(ghost, room, joined=True)

    async def membership(self, action: Run[GhostMembership]) -> SentAs | None:
        room_id = await self._room(action.payload.portal_id)
        user_id = action.payload.user_id
        async with self._db.unit_of_work() as uow:
            if action.payload.membership == "join":
                persona = await self._minimiser.joining(uow, user_id, room_id)
                leaving = []
            else:
                persona, leaving = None, await self._minimiser.leaving(uow, user_id)
        if action.payload.membership != "join":
            for user in leaving:  # the person under every name they had in the room
                await self._intent(user).leave_room(room_id)
            return None
        if persona is None:
            await self._intent(user_id).ensure_joined(room_id)
            self._personas.ghost_in(user_id, room_id)
            return None
        out = Outgoing(persona.matrix_user_id, Content(), persona=persona, ghost=user_id)
        await self._personas.prepare(out, room_id)
        await self._intent(persona.matrix_user_id).ensure_joined(room_id)
        return sent_as(out)


async def _members_and_visibility(intent: IntentAPI, room_id: RoomID) -> RoomSeed:
    # Raw JSON rather than mautrix's typed state: only two fields are needed.
    members_raw = await intent.api.request(Method.GET, Path.v3.rooms[room_id].members)
    members = tuple(
        MemberState(
            e["state_key"], e["content"].get("membership", "leave"), e.get("origin_server_ts", 0)
        )
        for e in members_raw.get("chunk", [])
    )
    visibility, visibility_ts, encrypted = None, 0, False
    for event in await intent.api.request(Method.GET, Path.v3.rooms[room_id].state):
        if event.get("type") == "m.room.history_visibility":
            visibility = event["content"].get("history_visibility")
            visibility_ts = event.get("origin_server_ts", 0)
        elif event.get("type") == "m.room.encryption":
            encrypted = True
    return RoomSeed(room_id, members, visibility, visibility_ts, encrypted)


def _trace_key(payload: MatrixMessage) -> str | None:
    """A relayed Rocket.Chat message's key in the stage trace (bridge.pipeline.stages)."""
    record = payload.record
    if record is not None and record.origin == "rc":
        return rc_message(record.rc_message_id)
    return None


def _msgtype(mimetype: str) -> str:
    """The Matrix msgtype for a file of ``mimetype`` (spec "m.room.message msgtypes")."""
    major = mimetype.split("/", 1)[0]
    return {"image": "m.image", "audio": "m.audio", "video": "m.video"}.get(major, "m.file")


def _with_content(action: Run[MatrixMessage], content: Content) -> Run[MatrixMessage]:
    return dataclasses.replace(action, payload=attrs.evolve(action.payload, content=content))


def _bridge_state(payload: CreatePortal, bot: str) -> dict[str, Any]:
    # MSC2346 "m.bridge" (also sent as uk.half-shot.bridge by older bridges).
    return {
        "type": "m.bridge",
        "state_key": f"rocketchat://{payload.rc_room_id}",
        "content": {
            "bridgebot": bot,
            "protocol": {"id": "rocketchat", "displayname": "Rocket.Chat"},
            "channel": {"id": payload.rc_room_id, "displayname": payload.name},
        },
    }


def _classify(e: MatrixStandardRequestError) -> Exception:
    if e.errcode == "M_LIMIT_EXCEEDED":
        retry_ms = getattr(e, "retry_after_ms", None)
        return Unavailable("rate limited", retry_ms / 1000 if retry_ms else None)
    if e.errcode in _PERMANENT and e.http_status < 500:
        return PermanentFailure(f"{e.errcode}: {e.message}")
    away = e.http_status in AWAY_STATUSES
    return (Unavailable if away else RetryLater)(f"{e.errcode} ({e.http_status})")
