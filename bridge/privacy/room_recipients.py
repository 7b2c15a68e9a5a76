"""Telling a bridged room who receives what is said in it (docs/partners.md, Tell the
room): a notice on both sides when a new server joins a portal room, and the answer to
``!privacy recipients``. Servers are named with the organisation the partner register
gives for them; a server not in the register is said to be so."""

from __future__ import annotations

from bridge.config.model import UnknownServers
from bridge.pipeline import keys, kinds
from bridge.privacy.partner_gate import enforce_action, server_block
from bridge.privacy.partners import get_partner
from bridge.storage.database import UnitOfWork

HOLD = "hold"


async def room_recipients(uow: UnitOfWork, room_id: str, local_server: str) -> list[str]:
    """Each remote server now in the room, as "server (organisation)"."""
    named = []
    for server in await uow.partners.room_servers(room_id):
        if server == local_server:
            continue
        partner = await get_partner(uow, server)
        who = partner.organisation if partner else "not in the partner register"
        named.append(f"{server} ({who})")
    return named


def recipients_text(named: list[str]) -> str:
    if not named:
        return "Messages in this room reach no other organisation's server."
    return "Messages in this room now reach these servers: " + "; ".join(named) + "."


class RoomTeller:
    def __init__(self, local_server: str, unknown: UnknownServers) -> None:
        self._local = local_server
        self._unknown = unknown

    async def server_joined(
        self, uow: UnitOfWork, room_id: str, server: str, event_id: str
    ) -> None:
        """A server's first user joined a portal room: both sides are told, and a server
        that must receive nothing is put out again (its ACL and kicks)."""
        if server == self._local:
            return
        portal = await uow.bridging.portal_by_matrix(room_id)
        if portal is None:
            return
        partner = await get_partner(uow, server)
        who = partner.organisation if partner else "not in the partner register"
        text = f"{server} ({who}) joined this room. " + recipients_text(
            await room_recipients(uow, room_id, self._local)
        )
        version = await uow.partners.version()
        # One notice per join event (a server may leave and join again).
        matrix_key, rc_key = (
            keys.joined_notice_key(event_id, "m"),
            keys.joined_notice_key(event_id, "rc"),
        )
        await uow.enqueue(kinds.notice("matrix", matrix_key, room_id, text))
        await uow.enqueue(kinds.notice("rocketchat", rc_key, portal.rc_room_id, text))
        block = await server_block(uow, server, self._unknown)
        if block is not None and block.reason != HOLD:
            await uow.enqueue(enforce_action(room_id, server, version))
