"""Commands typed on Rocket.Chat: the counterpart of ``matrix_entry`` for the
``rocketchat`` inbox source. A DM with the bridge's account reaches the bridge through the
realtime ``__my_messages__`` stream (and catch-up, once the DM is known)."""

from __future__ import annotations

from bridge.commands.context import CommandContext
from bridge.commands.dm import CommandRouter
from bridge.commands.parser import is_command
from bridge.pipeline.contracts import Inbound
from bridge.rctypes.events import MessagePosted, RCEvent
from bridge.storage.database import UnitOfWork


class RocketChatCommands:
    def __init__(self, bot_user_ids: set[str], router: CommandRouter) -> None:
        # The bridge's own account(s); filled in once logged in.
        self._bot_ids = bot_user_ids
        self._router = router

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[RCEvent]) -> None:
        event = inbound.event
        if type(event) is not MessagePosted:  # edits and deletions are not new commands
            return
        message = event.message
        if message.is_system or not is_command(message.text):
            return
        # Never parse what the bridge sent: its own account's posts, and Matrix users'
        # messages posted through their shadow accounts (those are commands on Matrix).
        if message.user.id in self._bot_ids:
            return
        if await uow.bridging.shadow_by_rc(message.user.id) is not None:
            return
        if await uow.bridging.messages_by_rc(message.id):
            return  # a bridged copy, or a reaction update of a known message
        portal = await uow.bridging.portal_by_rc(message.room_id)
        ctx = CommandContext(
            side="rocketchat",
            sender=message.user.id,
            sender_name=message.user.username,
            room_id=message.room_id,
            # Per message, not per version: a reaction added later is not a new command.
            event_id=f"rc:{message.id}",
            is_direct=False,
            in_portal=portal is not None and portal.active,
        )
        await self._router.route(uow, ctx, message.text)
