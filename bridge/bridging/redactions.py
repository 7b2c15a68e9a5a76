"""Who may delete on Rocket.Chat by redacting on Matrix.

A redaction reaches the bridge from any member of a portal, and Synapse does not refuse
every unauthorised one: since room version 3 a redaction event is accepted into the room
first and checked only when a server applies it (Matrix specification, room versions 3
and later, "Redactions": it applies only when the redaction's sender has the room's
``redact`` power, or comes from the same server as the original event's sender). The
bridge deletes the Rocket.Chat copy with its admin account, so it applies a stricter
rule of its own:

- the redacter is the original sender (the relay checks this from its own records and
  deletes at once, as that sender's shadow); or
- the redacter's power level in the room, read now from its ``m.room.power_levels``
  state (and ``m.room.create`` for the creators of room version 12 rooms), is at least
  the room's ``redact`` level (default 50).

Any other redaction deletes nothing on Rocket.Chat; the refusal is logged at INFO and
written to the audit log as ``redaction.refused``, without content.

A reaction is removed on Rocket.Chat only by a redaction from the person who reacted:
Rocket.Chat's ``chat.react`` adds or takes away the caller's own reaction only
(apps/meteor/app/reactions/server/setReaction.ts), so acting on anyone else's redaction
would take away the redacter's own reaction of the same emoji, if they had one, and leave
the reacter's in place. Those redactions are refused and recorded the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
from mautrix.client import ClientAPI
from mautrix.types import EventType, PowerLevelStateEventContent, RoomID, StateEvent, UserID

from bridge.bridging.action_values import RCDelete
from bridge.pipeline import keys
from bridge.pipeline.actions import (
    DoneHooks,
    Executors,
    Queued,
    Run,
    action,
    executor,
    new_action,
    on_done,
)
from bridge.privacy import audit
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

CHECK = "matrix.redaction_check"
REFUSED = "redaction.refused"


@action(CHECK)
@attrs.frozen
class CheckRedaction:
    """Someone else's redaction: ``delete`` runs only if the room gives them the power."""

    room_id: str  # the portal's Matrix room
    sender: str  # the redacter
    redacts: str  # the redacted event
    delete: RCDelete


@attrs.frozen
class RedactPower:
    allowed: bool
    level: int  # the redacter's
    needed: int  # the room's redact level


def check_action(
    portal_room: str, rc_queue: str, redacts: str, sender: str, delete: RCDelete
) -> Queued:
    """Ask the room's power levels before ``delete`` runs."""
    return new_action(
        CheckRedaction(portal_room, sender, redacts, delete),
        key=keys.redaction_check_key(redacts, sender),
        queue=rc_queue,  # in the room's order, like the deletion it may become
    )


def may_redact(state: list[StateEvent], user_id: str) -> tuple[bool, int, int]:
    """(allowed, the user's level, the room's redact level) from the room's state."""
    create = next((e for e in state if e.type == EventType.ROOM_CREATE), None)
    levels = next(
        (e.content for e in state if e.type == EventType.ROOM_POWER_LEVELS and e.state_key == ""),
        None,
    )
    if not isinstance(levels, PowerLevelStateEventContent):
        # No power levels: the creator alone has power (spec, authorization rules).
        allowed = create is not None and create.sender == user_id
        return allowed, 100 if allowed else 0, 50
    level = levels.get_user_level(UserID(user_id), create)
    return level >= levels.redact, level, levels.redact


class RedactionCheck:
    def __init__(self, bot: Callable[[], ClientAPI]) -> None:
        self._bot = bot

    def executors(self) -> Executors:
        return {CHECK: executor(CheckRedaction, self._check)}

    @staticmethod
    def on_done() -> DoneHooks:
        return {CHECK: on_done(CheckRedaction, RedactPower, checked)}

    async def _check(self, run: Run[CheckRedaction]) -> RedactPower:
        p = run.payload
        state = await self._bot().get_state(RoomID(p.room_id))
        return RedactPower(*may_redact(state, p.sender))


async def checked(uow: UnitOfWork, run: Run[CheckRedaction], result: RedactPower) -> None:
    """Queue the deletion when allowed; otherwise record the refusal."""
    p = run.payload
    if result.allowed:
        await uow.enqueue(new_action(p.delete, key=keys.mx_redact_key(p.redacts), queue=run.queue))
        return
    log.info(
        "Redaction of %s in %s not applied on Rocket.Chat: power %d below %d",
        p.redacts,
        p.room_id,
        result.level,
        result.needed,
    )
    await audit.AuditLog.append(
        uow,
        REFUSED,
        p.sender,
        None,
        {
            "room_id": p.room_id,
            "event_id": p.redacts,
            "reason": f"power {result.level} below the room's redact level "
            f"{result.needed}, and not the sender",
        },
    )


async def refuse_reaction(uow: UnitOfWork, room_id: str, sender: str, redacts: str) -> None:
    """Record that a redaction of someone else's reaction removes nothing on Rocket.Chat."""
    log.info("Redaction of reaction %s in %s not applied: not the reacter's", redacts, room_id)
    await audit.AuditLog.append(
        uow,
        REFUSED,
        sender,
        None,
        {
            "room_id": room_id,
            "event_id": redacts,
            "reason": "a reaction is removed on Rocket.Chat only by the person who reacted",
        },
    )
