"""Commands typed on Matrix: recognised in the inbox, answered through the outbox."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.bridging.identities import Identities
from bridge.commands.context import CommandContext
from bridge.commands.dm import CommandHandler, CommandRouter
from bridge.commands.parser import is_command
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

# Without a configured rate (older call sites): the config's default.
DEFAULT_RATE = 10


class MatrixCommands:
    def __init__(
        self, ids: Identities, handlers: Mapping[str, CommandHandler] | CommandRouter
    ) -> None:
        self._ids = ids
        self._router = (
            handlers
            if isinstance(handlers, CommandRouter)
            else CommandRouter(handlers, DEFAULT_RATE)
        )

    async def __call__(self, uow: UnitOfWork, stored: StoredEvent) -> None:
        event = stored.payload
        content = event.get("content")
        sender, room_id, event_id = event.get("sender"), event.get("room_id"), event.get("event_id")
        if event.get("type") != "m.room.message" or not isinstance(content, dict):
            return
        body = content.get("body")
        if not isinstance(body, str) or not is_command(body):
            return
        if not (isinstance(sender, str) and isinstance(room_id, str) and isinstance(event_id, str)):
            return
        # Never parse what the bridge itself said (its notices quote commands in help).
        if self._ids.is_bridge_user(sender) or content.get("msgtype") == "m.notice":
            return
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return  # an edit of a command is not a second command
        portal = await uow.bridging.portal_by_matrix(room_id)
        ctx = CommandContext(
            side="matrix",
            sender=sender,
            sender_name=sender,
            room_id=room_id,
            event_id=event_id,
            is_direct=False,
            in_portal=portal is not None and portal.active,
        )
        await self._router.route(uow, ctx, body)
