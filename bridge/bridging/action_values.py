"""What the relay's outbox actions carry, and what their runs return to the done hooks.

The relay queues these in ``bridging`` and the connectors run them, so the classes live
here, below both (docs/architecture.md). Field names are the keys the stored JSON has
always had: rows queued by an older version read as these classes unchanged.
"""

from __future__ import annotations

import attrs

from bridge.pipeline import kinds
from bridge.pipeline.actions import action, omit_when_default

# -- portals -----------------------------------------------------------------------------


@action(kinds.CREATE_PORTAL)
@attrs.frozen
class CreatePortal:
    """Create a Rocket.Chat room's Matrix room (its alias claimed first, so a retry finds it)."""

    portal_id: int
    rc_room_id: str
    alias_localpart: str
    history_visibility: str
    name: str | None = None
    topic: str | None = None
    invitees: tuple[str, ...] = ()  # older rows have none


@attrs.frozen
class PortalCreated:
    room_id: str
    creator: str  # the bot: the room's only member at first
    created_ms: int


@action(kinds.MATRIX_SEED)
@attrs.frozen
class SeedLedger:
    """An existing Matrix room linked as a portal: the ledger learns who is in it."""

    portal_id: int
    room_id: str
    rc_room_id: str


@attrs.frozen
class MemberState:
    user_id: str
    membership: str
    ts: int  # when it became so (origin_server_ts), 0 when the server gave none


@attrs.frozen
class RoomSeed:
    """Members (left ones too: they hold copies) and history visibility of a room."""

    room_id: str
    members: tuple[MemberState, ...] = ()
    visibility: str | None = None
    visibility_ts: int = 0
    encrypted: bool = False


@action(kinds.RC_RESOLVE_USER)
@attrs.frozen
class ResolveUser:
    """A Rocket.Chat membership message names its user only by username: look them up,
    then move their ghost."""

    portal_id: int
    username: str
    membership: str  # "join" or "leave"
    message_id: str


@attrs.frozen
class ResolvedUser:
    rc_user_id: str
    username: str
    name: str | None = None


# -- people ------------------------------------------------------------------------------


@action(kinds.MATRIX_PROFILE)
@omit_when_default("portal_id")
@attrs.frozen
class GhostProfile:
    """Set a ghost's name and avatar from its Rocket.Chat person."""

    user_id: str  # the ghost
    rc_user_id: str
    display_name: str
    rc_username: str | None = None  # the avatar is fetched by it; older rows may lack it
    avatar_url: str | None = None  # what the ghost has now: the avatar is set only if changed
    avatar_hash: str | None = None
    portal_id: int | None = None  # queued ahead of a message in this portal's queue


@attrs.frozen
class ProfileSet:
    rooms: tuple[str, ...] = ()  # every room the ghost is in: the profile shows in each
    avatar_url: str | None = None
    avatar_hash: str | None = None
    avatar_changed: bool = False


@action(kinds.RC_SHADOW)
@attrs.frozen
class EnsureShadow:
    """Create a Matrix user's Rocket.Chat account (a shadow)."""

    user_id: str
    portal_id: int | None = None  # the room it is made for: its name is disclosed there


@attrs.frozen
class ShadowReady:
    matrix_user_id: str
    rc_user_id: str
    rc_username: str
    display_name: str
    auth_token: str


@attrs.frozen
class ShadowMembership:
    """A Matrix user's shadow joins or leaves a Rocket.Chat room."""

    user_id: str  # the Matrix user
    rc_room_id: str
    rc_room_type: str  # "c" (channel) or "p" (private group)


@action(kinds.RC_JOIN)
@attrs.frozen
class ShadowJoin(ShadowMembership):
    pass


@action(kinds.RC_KICK)
@attrs.frozen
class ShadowKick(ShadowMembership):
    pass
