"""Knowing a DM with the bridge's bot on each side, and routing a command line.

A room is a DM only when it holds exactly the person and the bot at the moment a
``!privacy`` command arrives, so every such command first goes through a
``privacy.classify_room`` outbox action that asks the server; its hook routes the command
with the answer, through the same code as every other command.

- **Matrix**: the room's members whose membership is ``join`` or ``invite`` are exactly
  the bot and the sender, and nobody can join or read without an invite (join rule,
  history visibility). ``is_direct`` on an invite says nothing about who else was
  invited: a room created with a third invitee carries it too, and the bridge does not
  see that invite before its bot joins.
- **Rocket.Chat**: a room of type ``d`` whose members are exactly the bridge's account
  and the sender (``rooms.info`` + ``im.members``).
- Portal rooms are never DMs.

What was learnt is also stored (``command_room``), so the bridge's own notices find a DM
and Rocket.Chat DMs are followed and caught up on after a restart; it never decides
where a command's answer may go.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping

import attrs
from mautrix.types import Event, Membership, MemberStateEventContent, StateEvent

from bridge.commands.context import CommandContext
from bridge.commands.parser import CommandSyntaxError, ParsedCommand, parse
from bridge.commands.privacy_base import refuse
from bridge.commands.sides import Sides
from bridge.pipeline import keys
from bridge.pipeline.actions import DoneHooks, Executors, Run, action, executor, new_action, on_done
from bridge.pipeline.contracts import Inbound
from bridge.privacy.pseudonyms import person_name
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

CLASSIFY = "privacy.classify_room"
CommandHandler = Callable[[UnitOfWork, CommandContext, ParsedCommand], Awaitable[None]]
OnNewDM = Callable[[str, str], None]  # (side, room id), once it is known


@action(CLASSIFY)
@attrs.frozen
class Classify:
    """Ask the server whether a command's room is a DM with the bot, then route it."""

    ctx: CommandContext
    body: str  # the command line, parsed again once the room is known


@attrs.frozen
class Classified:
    is_dm: bool


class CommandRouter:
    """Parse a command line and hand it to its handler, with the room's place settled."""

    def __init__(
        self,
        handlers: Mapping[str, CommandHandler],
        rate_per_minute: int,
        sides: Sides | None = None,
        on_new_dm: OnNewDM | None = None,
    ) -> None:
        self._handlers = handlers
        self._rate = rate_per_minute
        self._sides = sides
        self._on_new_dm = on_new_dm

    async def route(self, uow: UnitOfWork, ctx: CommandContext, body: str) -> None:
        if not await self._within_rate(uow, ctx):
            return
        try:
            command = parse(body)
        except CommandSyntaxError as e:
            await refuse(
                uow, ctx, "parse", str(e), answer=f"{e}. Try !bridge help or !privacy help."
            )
            return
        handler = self._handlers.get(command.prefix)
        if handler is None:
            await ctx.reply(uow, f"!{command.prefix} commands are not available.")
            return
        is_dm = False
        if command.prefix == "privacy" and not ctx.in_portal:
            if self._sides is not None:
                # Who is in the room is asked when the command arrives, never taken from
                # what was learnt earlier: a member can be invited unseen by the bridge.
                await self._classify(uow, ctx, body)
                return
            # No server to ask (a router built for the parser's and the rules' own
            # tests): only what the bridge stored.
            known = await uow.commands.room(ctx.side, ctx.room_id)
            is_dm = known is not None and known.is_dm and known.user_id == ctx.sender
        await handler(uow, dataclasses.replace(ctx, is_direct=is_dm), command)

    async def _within_rate(self, uow: UnitOfWork, ctx: CommandContext) -> bool:
        """``privacy.command_rate_per_minute`` per person, counted in the database."""
        window = now_ms() // 60_000 * 60_000
        count = await uow.commands.count_command(await person_name(uow, ctx.person), window)
        if count <= self._rate:
            return True
        if count == self._rate + 1:
            # Answer and record the first excess only: a flood must not flood back.
            await refuse(
                uow,
                ctx,
                "rate",
                f"more than {self._rate} commands in a minute",
                answer="Too many commands: please wait a minute and try again.",
            )
        return False

    async def _classify(self, uow: UnitOfWork, ctx: CommandContext, body: str) -> None:
        await uow.enqueue(
            new_action(
                Classify(ctx, body),
                key=keys.classify_room_key(ctx.side, ctx.event_id),
                queue=keys.person_commands_queue(ctx.side, ctx.sender),
            )
        )

    # -- the classification action --------------------------------------------------------

    def executors(self) -> Executors:
        return {CLASSIFY: executor(Classify, self._classify_room)}

    def on_done(self) -> DoneHooks:
        return {CLASSIFY: on_done(Classify, Classified, self._classified)}

    async def _classify_room(self, run: Run[Classify]) -> Classified:
        assert self._sides is not None
        ctx = run.payload.ctx
        return Classified(
            await self._sides.is_dm(ctx.side, ctx.room_id, ctx.sender, ctx.sender_name)
        )

    async def _classified(self, uow: UnitOfWork, run: Run[Classify], result: Classified) -> None:
        ctx = run.payload.ctx
        is_dm = result.is_dm
        known = await uow.commands.room(ctx.side, ctx.room_id)
        if known is None or known.is_dm != is_dm:
            await uow.commands.set_room(
                ctx.side, ctx.room_id, is_dm=is_dm, user_id=ctx.sender if is_dm else None
            )
            if is_dm and known is None and self._on_new_dm is not None:
                self._on_new_dm(ctx.side, ctx.room_id)
        if not is_dm:
            log.info("Room %s is not a DM with the bot (checked at command time)", ctx.room_id)
        # The rate was counted when the command arrived; route without counting again.
        command = _parse_quietly(run.payload.body)
        handler = self._handlers.get("privacy")
        if command is not None and handler is not None:
            await handler(uow, dataclasses.replace(ctx, is_direct=is_dm), command)


def _parse_quietly(body: str) -> ParsedCommand | None:
    try:
        return parse(body)
    except CommandSyntaxError:
        return None


class MatrixDMTracker:
    """Inbox handler: learns Matrix DMs from the bot's ``is_direct`` invites, and forgets
    them when a third person arrives."""

    def __init__(self, bot: str) -> None:
        self._bot = bot

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        if not isinstance(event, StateEvent):
            return
        content = event.content
        if not isinstance(content, MemberStateEventContent):
            return
        room_id, target, sender = event.room_id, event.state_key, event.sender
        membership = content.membership
        if target == self._bot and membership == Membership.INVITE:
            if content.is_direct is True and sender != self._bot:
                if await uow.bridging.portal_by_matrix(room_id) is None:
                    await uow.commands.set_room("matrix", room_id, is_dm=True, user_id=sender)
            return
        if membership not in (Membership.JOIN, Membership.INVITE) or target == self._bot:
            return
        known = await uow.commands.room("matrix", room_id)
        if known is not None and known.is_dm and target != known.user_id:
            log.info("Room %s has a third member: no longer a DM", room_id)
            await uow.commands.set_room("matrix", room_id, is_dm=False, user_id=None)
