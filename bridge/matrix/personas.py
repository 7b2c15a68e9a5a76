"""The Matrix side of personas (bridge.bridging.minimise): naming them, and keeping the
person's own ghost out of the rooms a persona speaks in.

A persona is named once, before it joins any room, so every membership event it ever
sends carries the pseudonymous name; an avatar is never set. The person's own ghost
leaves a room as soon as a persona speaks there: while it stays, the room lists it
under the person's name, and a later change of its (global) profile would be copied
into the room's state by the homeserver.
"""

from __future__ import annotations

from collections.abc import Callable

from mautrix.appservice import IntentAPI
from mautrix.types import RoomID

from bridge.bridging.minimise import Outgoing

# (room, ghost) pairs whose ghost was taken out of the room by this process; a restart
# forgets them and costs one leave request each (a leave of a non-member is harmless).
_FORGET_AFTER = 10_000


class PersonaIntents:
    def __init__(self, intent: Callable[[str], IntentAPI]) -> None:
        self._intent = intent
        self._left: set[tuple[str, str]] = set()

    async def prepare(self, out: Outgoing, room_id: RoomID) -> None:
        """Before ``out`` is sent: its persona registered and named, the ghost gone."""
        persona = out.persona
        if persona is None:
            return
        if persona.named_ms is None:
            intent = self._intent(persona.matrix_user_id)
            await intent.ensure_registered()
            await intent.set_displayname(persona.display_name, check_current=False)
        if out.ghost is not None:
            await self.ghost_out(out.ghost, room_id)

    async def ghost_out(self, ghost: str, room_id: RoomID, *, joined: bool = False) -> None:
        """Take ``ghost`` out of the room; ``joined``: the homeserver says it is in it."""
        if (room_id, ghost) in self._left and not joined:
            return
        await self._intent(ghost).leave_room(room_id)
        if len(self._left) >= _FORGET_AFTER:
            self._left.clear()
        self._left.add((room_id, ghost))

    def ghost_in(self, ghost: str, room_id: RoomID) -> None:
        """The ghost joined the room again (the room is no longer minimised)."""
        self._left.discard((room_id, ghost))
