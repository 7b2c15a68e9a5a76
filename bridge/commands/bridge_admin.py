"""``!bridge``: linking and unlinking portal rooms, for the configured bridge admins."""

from __future__ import annotations

import logging

from bridge.bridging import actions
from bridge.commands.bridge_partner import decide_partner, partner_problem
from bridge.commands.context import CommandContext
from bridge.commands.parser import ParsedCommand
from bridge.commands.privacy_base import enqueue_job
from bridge.config import Config
from bridge.privacy import audit
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import NewAction

log = logging.getLogger(__name__)

LINK = "bridge.link"  # details.outcome: requested, then linked or refused (bridge/app.py)
UNLINK = "bridge.unlink"

HELP = """Bridge admin commands (in a Matrix room with the bridge bot):
!bridge link <rocketchat room id or name> [<matrix room id>]
    Bridge a Rocket.Chat channel or private group. Without a Matrix room, the bridge
    creates one and invites you; with one, the bot must already be in it with power.
!bridge unlink
    Stop bridging the room this is typed in. Nothing already copied is removed.
!bridge retention [--room <room>]
    The room's retention: Rocket.Chat's policy, the room's m.room.retention, the latest
    and the next expiry. For the room's moderators on either side, and bridge admins.
!bridge partner allow|minimise|deny <server> [--organisation <name>] [--basis <basis>]
    Decide about a server (e.g. one held under privacy.unknown_servers: hold), in a room
    with the bot that is not bridged. A server not yet registered needs both options.
!bridge help
    This text."""


class BridgeCommands:
    def __init__(self, config: Config) -> None:
        self._admins = set(config.bridge.admins) | set(config.privacy.admins)

    async def __call__(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        if cmd.verb == "help":
            await ctx.reply(uow, HELP)
            return
        if cmd.verb == "retention":
            await self._retention(uow, ctx, cmd)
            return
        if cmd.verb not in ("link", "unlink", "partner"):
            await ctx.reply(uow, f"Unknown command !bridge {cmd.verb}.\n\n{HELP}")
            return
        # One place for the rule: only configured admins, and only from Matrix.
        if ctx.side != "matrix" or ctx.sender not in self._admins:
            await _refuse(
                uow,
                ctx,
                cmd.verb,
                "not a bridge admin",
                f"Only bridge admins can use !bridge {cmd.verb}.",
            )
            return
        if cmd.verb == "link":
            await self._link(uow, ctx, cmd)
        elif cmd.verb == "partner":
            await self._partner(uow, ctx, cmd)
        else:
            await self._unlink(uow, ctx)

    async def _link(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        if not 1 <= len(cmd.args) <= 2 or cmd.options:
            usage = "Usage: !bridge link <rocketchat room> [<matrix room id>]"
            await _refuse(uow, ctx, "link", "usage", usage)
            return
        matrix_room = cmd.args[1] if len(cmd.args) == 2 else None
        if matrix_room is not None and not matrix_room.startswith("!"):
            answer = f"{matrix_room!r} is not a Matrix room id (they start with !)."
            await _refuse(uow, ctx, "link", "not a Matrix room id", answer)
            return
        await audit.AuditLog.append(
            uow,
            LINK,
            ctx.sender,
            None,
            {"rc_room": cmd.args[0][:255], "matrix_room": matrix_room, "outcome": "requested"},
        )
        await uow.enqueue(
            NewAction(
                key=f"bridge-link:{ctx.event_id}",
                kind=actions.BRIDGE_LINK,
                queue=f"bridge-admin:{ctx.room_id}",
                payload={
                    "rc_room": cmd.args[0],
                    "matrix_room_id": matrix_room,
                    "requester": ctx.sender,
                    "reply_room": ctx.room_id,
                    "command_event": ctx.event_id,
                },
            )
        )
        await ctx.reply(uow, f"Linking {cmd.args[0]} …")

    async def _partner(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        problem = partner_problem(cmd)
        if problem is not None:
            await _refuse(uow, ctx, "partner", "usage", problem)
            return
        # The answer names a partner's terms: not in a room other agencies read.
        if await uow.bridging.portal_by_matrix(ctx.room_id) is not None:
            answer = "Decide about partners in a room with the bot that is not bridged."
            await _refuse(uow, ctx, "partner", "in a bridged room", answer)
            return
        await ctx.reply(uow, await decide_partner(uow, ctx, cmd))

    async def _retention(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        """Answered by a job (it asks Rocket.Chat and, for the role check, the room)."""
        if cmd.args or set(cmd.options) - {"room"}:
            usage = "Usage: !bridge retention [--room <room>]"
            await _refuse(uow, ctx, "retention", "usage", usage)
            return
        await enqueue_job(uow, ctx, "retention", [], dict(cmd.options))

    async def _unlink(self, uow: UnitOfWork, ctx: CommandContext) -> None:
        portal = await uow.bridging.portal_by_matrix(ctx.room_id)
        if portal is None or not portal.active:
            await _refuse(uow, ctx, "unlink", "not a bridged room", "This room is not bridged.")
            return
        await uow.bridging.set_portal_active(portal.id, False)
        log.info("Portal %s unlinked", portal.id)
        await audit.AuditLog.append(
            uow,
            UNLINK,
            ctx.sender,
            None,
            {"portal_id": portal.id, "matrix_room": ctx.room_id, "rc_room": portal.rc_room_id},
        )
        await ctx.reply(
            uow,
            "This room is no longer bridged to Rocket.Chat. Messages already copied stay "
            "where they are; the disclosure ledger keeps its records.",
        )


async def _refuse(
    uow: UnitOfWork, ctx: CommandContext, verb: str, reason: str, answer: str
) -> None:
    """Answer, and record the refusal in the audit log; nothing else changes."""
    log.info("Refused !bridge %s on %s: %s", verb, ctx.side, reason)
    await audit.AuditLog.append(
        uow,
        audit.COMMAND_REFUSED,
        ctx.sender,
        None,
        {"command": f"bridge {verb[:24]}", "side": ctx.side, "reason": reason},
    )
    await ctx.reply(uow, answer)
