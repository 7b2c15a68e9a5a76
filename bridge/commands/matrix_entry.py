"""Commands typed on Matrix: recognised in the inbox, answered through the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bridge.bridging.identities import Identities
from bridge.commands.context import CommandContext
from bridge.commands.parser import CommandSyntaxError, ParsedCommand, is_command, parse
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

CommandHandler = Callable[[UnitOfWork, CommandContext, ParsedCommand], Awaitable[None]]


class MatrixCommands:
    def __init__(self, ids: Identities, handlers: Mapping[str, CommandHandler]) -> None:
        self._ids = ids
        self._handlers = handlers

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
        ctx = CommandContext(
            side="matrix",
            sender=sender,
            sender_name=sender,
            room_id=room_id,
            event_id=event_id,
            is_direct=False,
        )
        try:
            command = parse(body)
        except CommandSyntaxError as e:
            await ctx.reply(uow, f"{e}. Try !bridge help or !privacy help.")
            return
        handler = self._handlers.get(command.prefix)
        if handler is None:
            await ctx.reply(uow, f"!{command.prefix} commands are not available yet.")
            return
        await handler(uow, ctx, command)
