"""What the commands ask of each side's server, called only from outbox executors.

Matrix calls go through the bot's client (``mautrix.client`` API, the appservice intent
handed in by the composition root); Rocket.Chat calls through the bridge's admin account.
Each write is idempotent: Matrix sends reuse a txnId derived from the action key, DM rooms
are claimed through an alias (Matrix) or found again by ``im.create`` (Rocket.Chat), and a
Rocket.Chat file notes its upload in the outbox (bridge.rocketchat.uploads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Literal

from mautrix.client import ClientAPI
from mautrix.errors import MatrixStandardRequestError
from mautrix.types import (
    EventType,
    MessageType,
    PowerLevelStateEventContent,
    RoomAlias,
    RoomCreatePreset,
    RoomID,
    TextMessageEventContent,
    UserID,
)

from bridge.bridging.identities import Identities
from bridge.commands.context import Side
from bridge.config import Config
from bridge.ids import RCMessageID, RCRoomID
from bridge.pipeline.progress import Progress
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.uploads import UploadNoted, post_file_once
from bridge.storage.bridging import Portal

JSON_TYPE = "application/json"
RC_MODERATING_ROLES = frozenset({"owner", "moderator"})


class Sides:
    def __init__(
        self,
        config: Config,
        ids: Identities,
        bot: Callable[[], ClientAPI],
        rocketchat: Callable[[], RCRestClient | None],
        notes: Progress[UploadNoted] | None = None,
    ) -> None:
        self._config = config
        self._ids = ids
        self._bot = bot
        self._rocketchat = rocketchat
        # Where a Rocket.Chat file upload notes its progress (the outbox), so it is posted
        # once across crashes (bridge.rocketchat.uploads).
        self._notes = notes

    def _rc(self) -> RCRestClient:
        client = self._rocketchat()
        if client is None:
            raise ConnectionError("Rocket.Chat side not started")
        return client

    async def say(self, side: Side, room_id: str, text: str, key: str) -> None:
        if side == "matrix":
            await self._bot().send_message_event(
                RoomID(room_id),
                EventType.ROOM_MESSAGE,
                TextMessageEventContent(msgtype=MessageType.NOTICE, body=text),
                txn_id=self._ids.matrix_txn_id(key),
            )
        else:
            await self._rc().send_message(
                RCRoomID(room_id), text, message_id=RCMessageID(self._ids.rc_message_id(key))
            )

    async def send_file(
        self, side: Side, room_id: str, filename: str, data: bytes, key: str, action_id: int
    ) -> None:
        """Deliver ``data`` as a file in the DM (Matrix media upload; Rocket.Chat upload),
        once for the outbox action ``action_id`` even when it runs again after a crash."""
        if side == "matrix":
            bot = self._bot()
            mxc = await bot.upload_media(data, mime_type=JSON_TYPE, filename=filename)
            content: Any = {
                "msgtype": "m.file",
                "body": filename,
                "filename": filename,
                "url": mxc,
                "info": {"mimetype": JSON_TYPE, "size": len(data)},
            }
            await bot.send_message_event(
                RoomID(room_id),
                EventType.ROOM_MESSAGE,
                content,
                txn_id=self._ids.matrix_txn_id(key),
            )
        else:
            if self._notes is None:
                raise RuntimeError("Rocket.Chat files need the outbox to note their progress")

            async def source() -> tuple[bytes, str, str]:
                return data, filename, JSON_TYPE

            await post_file_once(self._rc(), self._notes, action_id, RCRoomID(room_id), source)

    async def moderates(self, side: Side, portal: Portal, user_id: str) -> bool:
        """Whether ``user_id`` runs the portal room on their own side."""
        if side == "matrix":
            if portal.matrix_room_id is None:
                return False
            levels = await self._bot().get_state_event(
                RoomID(portal.matrix_room_id), EventType.ROOM_POWER_LEVELS
            )
            if not isinstance(levels, PowerLevelStateEventContent):
                return False
            level = levels.get_user_level(UserID(user_id))
            return level >= self._config.privacy.moderator_power_level
        kind: Literal["channels", "groups"] = "groups" if portal.rc_room_type == "p" else "channels"
        roles = await self._rc().room_roles(kind, RCRoomID(portal.rc_room_id))
        return any(uid == user_id and RC_MODERATING_ROLES & set(r) for uid, _, r in roles)

    async def is_dm(self, side: Side, room_id: str, sender: str, sender_name: str) -> bool:
        """Whether the room holds exactly the sender and the bot, asked now.

        Matrix: the room's members whose membership is ``join`` or ``invite`` (an invited
        person reads everything once they accept). Rocket.Chat: a type ``d`` room whose
        member list (``usernames`` of ``rooms.info``, and ``im.members``) is exactly the
        sender and the bridge's account: a group DM is type ``d`` too (Rocket.Chat's
        ``dm.create`` takes several ``usernames``; rest-typings ``v1/dm.ts``).
        """
        if side == "matrix":
            events = await self._bot().get_members(RoomID(room_id))
            present = [
                str(e.state_key)
                for e in events
                if str(getattr(e.content, "membership", "")) in ("join", "invite")
            ]
            if len(present) != 2 or set(present) != {self._ids.bot, sender}:
                return False
            return await self._closed_to_others(RoomID(room_id))
        rc = self._rc()
        room = await rc.rooms_info(RCRoomID(room_id))
        if room.type != "d" or rc.login_info is None:
            return False
        bot = (await rc.me()).username
        pair = {bot, sender_name}
        if room.usernames and (len(room.usernames) != 2 or set(room.usernames) != pair):
            return False
        names = await rc.room_members("im", RCRoomID(room_id))
        return len(names) == 2 and set(names) == pair

    async def _closed_to_others(self, room_id: RoomID) -> bool:
        """Whether nobody else can read the room's history later without an invite.

        Two members now are not enough when anyone may join (``public``, or
        ``restricted`` to another room's members) and then read what was said before,
        as the default ``shared`` history visibility lets them, or when anyone may read
        it without joining at all (``world_readable``). Matrix spec, client-server API,
        "Room history visibility" and ``m.room.join_rules``.
        """
        bot = self._bot()
        rules = await _state_content(bot, room_id, EventType.ROOM_JOIN_RULES)
        # No join rules event means "invite" (spec, m.room.join_rules).
        if str(rules.get("join_rule", "invite")) not in _INVITE_ONLY:
            return False
        seen = await _state_content(bot, room_id, EventType.ROOM_HISTORY_VISIBILITY)
        return str(seen.get("history_visibility", "shared")) != "world_readable"

    async def dm_room(self, side: Side, user_id: str, username: str | None) -> str:
        """A DM room with the person, created on first use."""
        if side == "rocketchat":
            if username is None:
                raise ValueError("a Rocket.Chat DM needs the username")
            return str((await self._rc().im_create(username)).id)
        bot = self._bot()
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:16]
        localpart = self._config.appservice.alias_localpart_template.format(
            room=f"privacy_dm_{digest}"
        )
        try:
            room = await bot.create_room(
                alias_localpart=localpart,
                preset=RoomCreatePreset.TRUSTED_PRIVATE,
                is_direct=True,
                name="Privacy",
                invitees=[UserID(user_id)],
            )
        except MatrixStandardRequestError as e:
            if e.errcode != "M_ROOM_IN_USE":
                raise
            alias = RoomAlias(f"#{localpart}:{self._ids.domain}")
            room = (await bot.resolve_room_alias(alias)).room_id
        return str(room)


# Join rules under which only someone a member invites (or lets in after a knock) joins.
_INVITE_ONLY = frozenset({"invite", "knock", "private"})


async def _state_content(bot: ClientAPI, room_id: RoomID, kind: EventType) -> dict[str, Any]:
    try:
        content = await bot.get_state_event(room_id, kind)
    except MatrixStandardRequestError as e:
        if e.errcode != "M_NOT_FOUND":
            raise
        return {}
    return dict(content.serialize())
