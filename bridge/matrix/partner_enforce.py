"""Enforcing a partner's ``deny`` in a portal room with Matrix's own tools (docs/partners.md).

Two steps, both as the bridge bot: the server's host goes into the room's
``m.room.server_acl`` deny list, so it can neither rejoin nor take part over federation;
then its users still in the room are kicked. The kick is needed because an ACL only
governs requests *from* the denied server: Synapse keeps sending new events to every
server with a member in the room (Synapse ``synapse/federation/sender/__init__.py``
consults no ACL when choosing destinations). Where the bot lacks the power for either
step (a linked room it did not create), both sides are told that the relay into the
room is paused; the relay's own check (``bridge.privacy.partner_gate``) keeps it paused
while the server is in the room.
"""

from __future__ import annotations

import logging
from typing import Any

from mautrix.api import Method, Path
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.errors import MatrixStandardRequestError
from mautrix.types import RoomID, UserID

from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import Run
from bridge.privacy.audit import AuditLog
from bridge.privacy.partner_gate import Enforced, EnforceDeny, acl_host
from bridge.storage.database import Database, UnitOfWork

log = logging.getLogger(__name__)

ACL = "m.room.server_acl"


def merged_acl(current: dict[str, Any], host: str) -> dict[str, Any] | None:
    """``current`` with ``host`` denied, or None if it already is. A room without an ACL
    allows every server, IP literals included (Matrix spec, m.room.server_acl)."""
    deny = [d for d in current.get("deny", []) if isinstance(d, str)]
    if host in deny:
        return None
    allow = current.get("allow")
    return {
        "allow": allow if isinstance(allow, list) else ["*"],
        "allow_ip_literals": bool(current.get("allow_ip_literals", True)),
        "deny": [*deny, host],
    }


class PartnerEnforcement:
    def __init__(self, api: AppServiceAPI, db: Database, local_server: str) -> None:
        self._api = api
        self._db = db
        self._local = local_server

    async def enforce(self, run: Run[EnforceDeny]) -> Enforced:
        room_id, server = RoomID(run.payload.room_id), run.payload.server
        bot: IntentAPI = self._api.bot_intent()
        try:
            acl = await self._acl(bot, room_id, server)
            kicked = await self._kick(bot, room_id, server)
        except MatrixStandardRequestError as e:
            if e.errcode != "M_FORBIDDEN":
                raise
            await self._paused(room_id, server, run.key)
            return Enforced(room_id, "not permitted", 0)
        return Enforced(room_id, acl, kicked)

    async def _acl(self, bot: IntentAPI, room_id: RoomID, server: str) -> str:
        host = acl_host(server)
        if host == acl_host(self._local):
            # An ACL naming our own host would deny us; Synapse refuses such an event
            # (synapse/events/validator.py). The kicks and the relay's check remain.
            return "not expressible"
        path = Path.v3.rooms[room_id].state[ACL]
        try:
            current = await bot.api.request(Method.GET, path)
        except MatrixStandardRequestError as e:
            if e.errcode != "M_NOT_FOUND":
                raise
            current = {}
        content = merged_acl(current if isinstance(current, dict) else {}, host)
        if content is None:
            return "already set"
        await bot.api.request(Method.PUT, path, content)
        return "set"

    async def _kick(self, bot: IntentAPI, room_id: RoomID, server: str) -> int:
        # The room's member list from the homeserver: the ledger keeps members only by
        # pseudonym, which cannot be kicked.
        body = await bot.api.request(Method.GET, Path.v3.rooms[room_id].members)
        members = [
            str(e.get("state_key"))
            for e in body.get("chunk", [])
            if isinstance(e, dict)
            and e.get("content", {}).get("membership") in ("join", "invite")
            and str(e.get("state_key", "")).endswith(f":{server}")
        ]
        for user_id in members:
            await bot.kick_user(room_id, UserID(user_id), reason="partner policy: deny")
        return len(members)

    async def _paused(self, room_id: RoomID, server: str, key: str) -> None:
        log.warning("The bot may not enforce a deny in %s; its relay is paused", room_id)
        text = (
            f"The partner register denies {server}, and the bridge may not remove it from "
            "this room. Nothing more is relayed into the room while that server is in it."
        )
        async with self._db.unit_of_work() as uow:
            portal = await uow.bridging.portal_by_matrix(room_id)
            await uow.enqueue(
                kinds.notice("matrix", keys.paused_notice_key(key, "m"), room_id, text)
            )
            if portal is not None:
                rc = kinds.notice(
                    "rocketchat", keys.paused_notice_key(key, "rc"), portal.rc_room_id, text
                )
                await uow.enqueue(rc)


async def enforced(uow: UnitOfWork, run: Run[EnforceDeny], result: Enforced) -> None:
    """The outcome in the audit chain, with the action it records."""
    details: dict[str, str | int | None] = {
        "server": run.payload.server,
        "room_id": run.payload.room_id,
        "acl": result.acl,
        "kicked": result.kicked,
    }
    await AuditLog.append(uow, "partner.enforced", "bridge", None, details)
