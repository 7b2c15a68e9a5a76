"""``!bridge``: linking and unlinking portal rooms, partner decisions and the retention
view. Each verb is one spec (bridge/commands/verbs.py) beside the method that runs it."""

from __future__ import annotations

import logging

import attrs

from bridge.commands.authz import EVERYWHERE, MATRIX_ONLY, Actor, Facts, Place, Rule, Who, decide
from bridge.commands.bridge_partner import decide_partner, partner_problem
from bridge.commands.context import CommandContext
from bridge.commands.parser import ParsedCommand
from bridge.commands.privacy_base import enqueue_job
from bridge.commands.verbs import Catalogue, Verb, declared, handles
from bridge.config import Config
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import action, new_action, omit_defaults
from bridge.privacy import audit
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

LINK_AUDIT = "bridge.link"  # details.outcome: requested, then linked or refused (bridge/app.py)
UNLINK_AUDIT = "bridge.unlink"
_ADMINS = Rule(Who.BRIDGE_ADMIN, EVERYWHERE, sides=MATRIX_ONLY)


def _matrix_room_id(cmd: ParsedCommand) -> str | None:
    room = cmd.args[1] if len(cmd.args) == 2 else None
    if room is None or room.startswith("!"):
        return None
    return f"{room!r} is not a Matrix room id (they start with !)"


HELP = Verb(
    "help", ("!bridge help",), "This text.", Rule(Who.ANYONE, EVERYWHERE), rank=90, prefix="bridge"
)
LINK = Verb(
    "link",
    ("!bridge link <rocketchat room id or name> [<matrix room id>]",),
    "Bridge a Rocket.Chat channel or private group. Without a Matrix room, the bridge "
    "creates one and invites you; with one, the bot must already be in it with power.",
    _ADMINS,
    args=(1, 2),
    check=_matrix_room_id,
    rank=10,
    prefix="bridge",
)


@action(kinds.BRIDGE_LINK)
@attrs.frozen
class Link:
    """``!bridge link``, run by the outbox: Rocket.Chat must be reachable for it."""

    rc_room: str  # as typed: a room's name or id
    matrix_room_id: str | None  # None: the bridge creates the Matrix room
    requester: str
    reply_room: str
    command_event: str


@omit_defaults
@attrs.frozen
class LinkResult:
    """Either the linked room or why it was refused."""

    error: str | None = None
    portal_id: int | None = None
    rc_room_id: str | None = None
    name: str | None = None


UNLINK = Verb(
    "unlink",
    ("!bridge unlink",),
    "Stop bridging the room this is typed in. Nothing already copied is removed.",
    _ADMINS,
    rank=20,
    prefix="bridge",
)
# Anyone may ask; the job answers only the room's moderators (either side) and admins,
# since the role is checked against the room itself, which needs the servers.
RETENTION = Verb(
    "retention",
    ("!bridge retention [--room <room>]",),
    "The room's retention: Rocket.Chat's policy, the room's m.room.retention, the latest "
    "and the next expiry. For the room's moderators on either side, and bridge admins.",
    Rule(Who.ANYONE, EVERYWHERE),
    options=frozenset({"room"}),
    rank=30,
    prefix="bridge",
)
# The answer names a partner's terms: not in a room other agencies read. (A ``!bridge``
# command's room is not classified as a DM: any room with the bot that is not a portal.)
PARTNER = Verb(
    "partner",
    ("!bridge partner allow|minimise|deny <server> [--organisation <name>] [--basis <basis>]",),
    "Decide about a server (e.g. one held under privacy.unknown_servers: hold), in a room "
    "with the bot that is not bridged. A server not yet registered needs both options.",
    Rule(Who.BRIDGE_ADMIN, frozenset({Place.OTHER}), sides=MATRIX_ONLY),
    args=(0, 1000),  # counted by the check, which answers with the usage
    options=frozenset({"organisation", "basis"}),
    check=partner_problem,
    rank=40,
    prefix="bridge",
)
HEADER = "Bridge admin commands (in a Matrix room with the bridge bot):"


class BridgeCommands:
    def __init__(self, config: Config) -> None:
        self._admins = set(config.bridge.admins) | set(config.privacy.admins)
        self._handlers = {
            verb.name: getattr(self, m) for verb, m in declared(BridgeCommands).items()
        }

    async def __call__(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        spec = CATALOGUE.get(cmd.verb)
        if spec is None:
            await ctx.reply(uow, f"Unknown command !bridge {cmd.verb}.\n\n{_HELP_TEXT}")
            return
        problem = spec.problem(cmd)
        if problem is not None:
            await _refuse(uow, ctx, spec.name, "usage", spec.usage_text(problem))
            return
        # Admins are named by Matrix id: a Rocket.Chat user is never a bridge admin.
        is_admin = ctx.side == "matrix" and ctx.sender in self._admins
        actor = Actor(ctx.side, ctx.sender, ctx.sender_name, is_admin, local=False)
        place = Place.PORTAL if ctx.in_portal else Place.OTHER
        decision = decide(spec.name, spec.rule, actor, Facts(place), prefix="bridge")
        if not decision.allowed:
            answer = decision.reason[:1].upper() + decision.reason[1:] + "."
            await _refuse(uow, ctx, spec.name, decision.reason, answer)
            return
        await self._handlers[spec.name](uow, ctx, cmd)

    @handles(HELP)
    async def _help(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        await ctx.reply(uow, _HELP_TEXT)

    @handles(LINK)
    async def _link(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        matrix_room = cmd.args[1] if len(cmd.args) == 2 else None
        await audit.AuditLog.append(
            uow,
            LINK_AUDIT,
            ctx.sender,
            None,
            {"rc_room": cmd.args[0][:255], "matrix_room": matrix_room, "outcome": "requested"},
        )
        link = Link(cmd.args[0], matrix_room, ctx.sender, ctx.room_id, ctx.event_id)
        await uow.enqueue(
            new_action(
                link,
                key=keys.bridge_link_key(ctx.event_id),
                queue=keys.bridge_admin_queue(ctx.room_id),
            )
        )
        await ctx.reply(uow, f"Linking {cmd.args[0]} …")

    @handles(PARTNER)
    async def _partner(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        await ctx.reply(uow, await decide_partner(uow, ctx, cmd))

    @handles(RETENTION)
    async def _retention(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        """Answered by a job (it asks Rocket.Chat and, for the role check, the room)."""
        await enqueue_job(uow, ctx, "retention", [], dict(cmd.options))

    @handles(UNLINK)
    async def _unlink(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        portal = await uow.bridging.portal_by_matrix(ctx.room_id)
        if portal is None or not portal.active:
            await _refuse(uow, ctx, "unlink", "not a bridged room", "This room is not bridged.")
            return
        await uow.bridging.set_portal_active(portal.id, False)
        log.info("Portal %s unlinked", portal.id)
        await audit.AuditLog.append(
            uow,
            UNLINK_AUDIT,
            ctx.sender,
            None,
            {"portal_id": portal.id, "matrix_room": ctx.room_id, "rc_room": portal.rc_room_id},
        )
        await ctx.reply(
            uow,
            "This room is no longer bridged to Rocket.Chat. Messages already copied stay "
            "where they are; the disclosure ledger keeps its records.",
        )


CATALOGUE = Catalogue(BridgeCommands, headers=(HEADER, HEADER))
_HELP_TEXT = CATALOGUE.help_text(False)


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
