"""Who may run a ``!privacy`` command, and where: the rule each verb's spec carries
(bridge/commands/verbs.py), and the one function that applies it.

Every handler asks :func:`decide`; the table-driven test (tests/commands) reads every
verb's rule from the catalogue, so a rule cannot change without its test seeing it.
Self-service commands never take the subject from an argument: the subject is the sender's own
identity, so a person can only export or erase their own data (GDPR Art. 12(6): the
controller must know the request comes from the data subject).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bridge.commands.context import Side


class Place(enum.StrEnum):
    DM = "dm"  # a DM with the bridge bot
    PORTAL = "portal"  # a bridged room: other agencies' servers read what is said there
    OTHER = "other"  # any other room with the bot


class Who(enum.StrEnum):
    ANYONE = "anyone"
    SELF = "self"  # about the sender's own data only
    OWNER_OR_ADMIN = "owner_or_admin"  # the person who made the request, or an admin
    MODERATOR = "moderator"  # moderates the room acted on
    ADMIN = "admin"  # privacy.admins
    BRIDGE_ADMIN = "bridge_admin"  # bridge.admins and privacy.admins (the !bridge verbs)


@dataclass(frozen=True)
class Rule:
    who: Who
    places: frozenset[Place]  # where anyone allowed by ``who`` may run it
    admin_places: frozenset[Place] = frozenset()  # where admins may run it too
    sides: frozenset[Side] = frozenset({"matrix", "rocketchat"})  # typed on which side


DM = frozenset({Place.DM})
# Only what says nothing about anyone may be answered outside a DM: any other room
# (even one an admin calls an admin room) may hold people the answer is not for.
ANY_ROOM_BUT_PORTALS = frozenset({Place.DM, Place.OTHER})
EVERYWHERE = frozenset(Place)
MATRIX_ONLY: frozenset[Side] = frozenset({"matrix"})


@dataclass(frozen=True)
class Actor:
    side: Side
    id: str  # Matrix user id, or Rocket.Chat user id
    name: str  # Matrix user id, or Rocket.Chat username
    is_admin: bool
    # Matrix users of the organisation's own homeserver, and every Rocket.Chat user.
    local: bool


@dataclass(frozen=True)
class Facts:
    """What is known about this command; None: not known yet (looked up, then asked again)."""

    place: Place
    moderates: bool | None = None  # purge: the actor moderates the room
    target_is_rocketchat_user: bool | None = None  # purge: whose data
    owns_request: bool | None = None  # cancel: the actor made the request


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    # Facts still to look up before the answer is final (an outbox step asks the server).
    pending: tuple[str, ...] = ()
    # The refusal is only "not here": the answer points to the DM.
    wrong_place: bool = False


ALLOWED = Decision(True)


def _refused(reason: str, *, wrong_place: bool = False) -> Decision:
    return Decision(False, reason, wrong_place=wrong_place)


def decide(
    verb: str, rule: Rule | None, actor: Actor, facts: Facts, *, prefix: str = "privacy"
) -> Decision:
    """Allowed or refused under ``verb``'s rule, with a reason the person can read.

    For ``!bridge`` verbs (``prefix="bridge"``) ``actor.is_admin`` means a bridge admin.
    """
    command = f"!{prefix} {verb}"
    if rule is None:
        return _refused(f"there is no command {command}")
    if rule.who is Who.ADMIN and not actor.is_admin:
        return _refused(f"only privacy admins can use {command}")
    if rule.who is Who.BRIDGE_ADMIN and not actor.is_admin:
        return _refused(f"only bridge admins can use {command}")
    if actor.side not in rule.sides:
        return _refused(f"{command} works only from {' or '.join(sorted(rule.sides))}")
    places = rule.places | (rule.admin_places if actor.is_admin else frozenset())
    if facts.place not in places:
        if facts.place is Place.PORTAL or Place.DM in places:
            return _refused(
                f"{command} works only in a direct message with the bridge bot",
                wrong_place=True,
            )
        return _refused(f"{command} cannot be used in this room", wrong_place=True)
    if rule.who is Who.OWNER_OR_ADMIN and not actor.is_admin:
        if facts.owns_request is None:
            return Decision(True, pending=("owns_request",))
        if not facts.owns_request:
            return _refused("you can only cancel your own requests")
    if rule.who is Who.MODERATOR:
        return _moderator(actor, facts)
    return ALLOWED


def _moderator(actor: Actor, facts: Facts) -> Decision:
    if facts.target_is_rocketchat_user and not actor.local:
        # The organisation answers for its Rocket.Chat users' data; a user of another
        # agency's homeserver cannot have it erased, whatever their power in a room.
        return _refused("a user of another homeserver cannot act on a Rocket.Chat user's data")
    pending = tuple(
        name
        for name, value in (
            ("target_is_rocketchat_user", facts.target_is_rocketchat_user),
            ("moderates", facts.moderates),
        )
        if value is None
    )
    if facts.moderates is False:
        return _refused("you can purge only in rooms you moderate")
    return Decision(True, pending=pending)
