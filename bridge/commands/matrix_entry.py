"""Commands typed on Matrix: recognised in the inbox, answered through the outbox."""

from __future__ import annotations

from collections.abc import Mapping

from mautrix.types import BaseMessageEventContent, Event, MessageEvent, MessageType, RelationType

from bridge.bridging.identities import Identities
from bridge.commands.context import CommandContext
from bridge.commands.dm import CommandHandler, CommandRouter
from bridge.commands.parser import is_command
from bridge.pipeline.contracts import Inbound
from bridge.storage.database import UnitOfWork

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

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        if not isinstance(event, MessageEvent):
            return
        content = event.content
        if not isinstance(content, BaseMessageEventContent) or not is_command(content.body):
            return
        # Never parse what the bridge itself said (its notices quote commands in help).
        if self._ids.is_bridge_user(event.sender) or content.msgtype == MessageType.NOTICE:
            return
        if content.relates_to.rel_type == RelationType.REPLACE:
            return  # an edit of a command is not a second command
        sender, room_id, body = event.sender, event.room_id, content.body
        portal = await uow.bridging.portal_by_matrix(room_id)
        ctx = CommandContext(
            side="matrix",
            sender=sender,
            sender_name=sender,
            room_id=room_id,
            event_id=event.event_id,
            is_direct=False,
            in_portal=portal is not None and portal.active,
        )
        await self._router.route(uow, ctx, body)
