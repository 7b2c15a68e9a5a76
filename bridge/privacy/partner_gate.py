"""Which servers in a room may not receive what the bridge relays into it, by the
partner register's policies and ``privacy.unknown_servers`` (docs/partners.md).

The relay asks before each send into a Matrix room: a room holding a server under
``deny`` (or an unknown server under ``hold``/``deny``) gets nothing until the server is
gone from it (the ACL and removal of its members do that where the bot may) or an admin
decides. Matrix sends one event to every server in the room, so there is no way to leave
one server out of one message.
"""

from __future__ import annotations

from dataclasses import dataclass

import attrs

from bridge.config.model import UnknownServers
from bridge.pipeline import keys
from bridge.pipeline.actions import Queued, action, new_action
from bridge.privacy.partner_values import Partner
from bridge.privacy.partners import get_partner
from bridge.storage.database import UnitOfWork

# The outbox action that puts a denied server into a room's ACL and removes its users
# (bridge.matrix.partner_enforce).
PARTNER_ENFORCE = "partner.enforce"
DENY = "deny"
HOLD = "hold"
MINIMISE = "minimise"


@dataclass(frozen=True)
class Block:
    server: str
    reason: str  # "deny" (registered so), "unknown-deny" or "hold" (not registered)

    def text(self) -> str:
        if self.reason == HOLD:
            return f"{self.server} is not in the partner register; held until an admin decides"
        if self.reason == DENY:
            return f"{self.server} is under policy deny"
        return f"{self.server} is not in the partner register (unknown servers: deny)"


def acl_host(server: str) -> str:
    """The part of a server name an m.room.server_acl entry is compared with: the name
    without its port (Matrix spec, m.room.server_acl)."""
    if server.startswith("["):
        return server[: server.index("]") + 1]
    return server.rsplit(":", 1)[0] if ":" in server else server


async def server_block(uow: UnitOfWork, server: str, unknown: UnknownServers) -> Block | None:
    return _block(server, await get_partner(uow, server), unknown)


def _block(server: str, partner: Partner | None, unknown: UnknownServers) -> Block | None:
    if partner is not None:
        return Block(server, DENY) if partner.policy == DENY else None
    if unknown == "allow":
        return None
    return Block(server, HOLD if unknown == HOLD else "unknown-deny")


@dataclass(frozen=True)
class RoomTerms:
    """What the partner register says about a room now: the servers in it that must
    receive nothing more, and those under ``minimise``."""

    blocks: tuple[Block, ...]
    minimised: tuple[str, ...]


async def room_terms(
    uow: UnitOfWork, room_id: str, local_server: str, unknown: UnknownServers
) -> RoomTerms:
    """One look at the room's servers and their entries, for both questions a send asks."""
    blocks, minimised = [], []
    for server in await uow.partners.room_servers(room_id):
        if server == local_server:
            continue
        partner = await get_partner(uow, server)
        block = _block(server, partner, unknown)
        if block is not None:
            blocks.append(block)
        elif partner is not None and partner.policy == MINIMISE:
            minimised.append(server)
    return RoomTerms(tuple(blocks), tuple(minimised))


async def room_blocks(
    uow: UnitOfWork, room_id: str, local_server: str, unknown: UnknownServers
) -> list[Block]:
    """The servers now in ``room_id`` that must receive nothing more from the bridge."""
    return list((await room_terms(uow, room_id, local_server, unknown)).blocks)


@action(PARTNER_ENFORCE)
@attrs.frozen
class EnforceDeny:
    """Put a denied server into a room's ACL and remove its users from the room."""

    room_id: str
    server: str


@attrs.frozen
class Enforced:
    """What the room now says: the ACL ("set", "already set", "not expressible" for our
    own host, "not permitted" where the bot lacks the power) and how many were kicked."""

    room_id: str = ""
    acl: str | None = None
    kicked: int | None = None


def enforce_action(room_id: str, server: str, version: int) -> Queued:
    return new_action(
        EnforceDeny(room_id, server),
        key=keys.partner_enforce_key(room_id, server, version),
        queue=keys.partner_queue(room_id),
    )


async def enqueue_enforcement(uow: UnitOfWork, server: str, version: int) -> int:
    """One enforcement per bridged room; returns how many were queued."""
    count = 0
    for portal in await uow.bridging.active_portals():
        if portal.matrix_room_id:
            count += await uow.enqueue_new(enforce_action(portal.matrix_room_id, server, version))
    return count


async def room_minimised(uow: UnitOfWork, room_id: str, local_server: str) -> list[str]:
    """The servers now in ``room_id`` under policy ``minimise``. Matrix sends one event to
    every server of a room, so one of them makes the whole room get the minimised form."""
    return list((await room_terms(uow, room_id, local_server, "allow")).minimised)
