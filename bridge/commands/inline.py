"""The ``!privacy`` verbs the database alone can answer, run in the inbox transaction.

Each handler is declared with its :class:`~bridge.commands.verbs.Verb` spec; the verbs
that need the engine, the ledger's reads or another server are in bridge/commands/jobs.py.
"""

from __future__ import annotations

from bridge.commands import confirmations, texts
from bridge.commands.authz import ANY_ROOM_BUT_PORTALS, DM, Actor, Place, Rule, Who
from bridge.commands.context import CommandContext
from bridge.commands.job_values import Scope
from bridge.commands.parser import ParsedCommand
from bridge.commands.privacy_base import DELETE, CommandSettings, enqueue_job, refuse
from bridge.commands.verbs import Verb, handles
from bridge.pipeline.actions import converter
from bridge.privacy import audit
from bridge.privacy.erasure_model import OPEN
from bridge.privacy.pseudonyms import person_name
from bridge.privacy.room_recipients import recipients_text, room_recipients
from bridge.storage.database import UnitOfWork

HELP = Verb(
    "help", ("!privacy help",), "this text", Rule(Who.ANYONE, ANY_ROOM_BUT_PORTALS), rank=90
)
NOTICE = Verb(
    "notice",
    ("!privacy notice",),
    "the organisation's privacy notice",
    Rule(Who.ANYONE, ANY_ROOM_BUT_PORTALS),
    rank=0,
)
OPTOUT = Verb(
    "optout",
    ("!privacy optout",),
    "stop bridging your messages to other servers",
    Rule(Who.SELF, DM),
    rank=50,
)
OPTIN = Verb(
    "optin", ("!privacy optin",), "resume bridging your messages", Rule(Who.SELF, DM), rank=51
)
# Says who receives the room's messages, nothing about any person: for the room.
RECIPIENTS = Verb(
    "recipients",
    ("!privacy recipients",),
    "(in a bridged room) which servers and organisations receive it",
    Rule(Who.ANYONE, frozenset({Place.PORTAL})),
    rank=70,
)
# Request lists name people: admins, in a DM only.
REQUESTS = Verb(
    "requests",
    ("!privacy requests",),
    "open erasure requests",
    Rule(Who.ADMIN, frozenset(), DM),
    admin=True,
    rank=100,
)


def _one_code(cmd: ParsedCommand) -> str | None:
    return None if len(cmd.args) == 2 and cmd.args[0] == "confirm" else "give exactly one code"


# ``!privacy delete confirm <code>``: the second step of delete, checked as delete is.
CONFIRM = Verb(
    "confirm",
    ("!privacy delete confirm <code>",),
    "start the erasure (within 10 minutes)",
    Rule(Who.SELF, DM),
    args=(1, 1000),  # counted by the check, which says what is wrong
    check=_one_code,
    rank=31,
)


class InlineVerbs:
    """Handlers: ``(uow, ctx, actor, cmd) -> None``, answering through ``ctx.reply``."""

    def __init__(self, settings: CommandSettings, help_text: dict[bool, str]) -> None:
        self._s = settings
        self._help = help_text

    @handles(HELP)
    async def help(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        await ctx.reply(uow, self._help[actor.is_admin])

    @handles(NOTICE)
    async def notice(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        await ctx.reply(uow, texts.notice_text(self._s.notice_text, self._s.notice_url))

    @handles(OPTOUT)
    async def optout(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        changed = await uow.commands.set_opt_out(await person_name(uow, ctx.person), True)
        text = (
            "You are opted out: your messages are no longer bridged to other servers; "
            "the room sees a short note without their content. !privacy optin resumes."
            if changed
            else "You were already opted out."
        )
        await ctx.reply(uow, text)

    @handles(OPTIN)
    async def optin(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        changed = await uow.commands.set_opt_out(await person_name(uow, ctx.person), False)
        text = (
            "You are opted in again: your messages are bridged from now on (nothing you "
            "wrote while opted out is sent)."
            if changed
            else "You were not opted out."
        )
        await ctx.reply(uow, text)

    @handles(CONFIRM)
    async def confirm(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        checked = await confirmations.check(uow, ctx.person, DELETE, cmd.args[1])
        outcome = confirmations.Outcome
        if checked.outcome is not outcome.OK or checked.payload is None:
            reason = {
                outcome.WRONG: "that confirmation code is not right",
                outcome.BURNT: "too many wrong codes: ask again with !privacy delete",
                outcome.EXPIRED: "that code has expired (codes last 10 minutes): ask "
                "again with !privacy delete",
            }.get(
                checked.outcome,
                "there is no erasure waiting for confirmation: start with !privacy delete",
            )
            await refuse(uow, ctx, "confirm", reason)
            return
        scope = converter.structure(checked.payload, Scope)
        await enqueue_job(uow, ctx, "start", [], {}, scope=scope)
        await ctx.reply(uow, "Confirmed. Starting the erasure …")

    @handles(RECIPIENTS)
    async def recipients(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        """Which servers, of which organisations, receive what is said in this room."""
        portal = (
            await uow.bridging.portal_by_matrix(ctx.room_id)
            if ctx.side == "matrix"
            else await uow.bridging.portal_by_rc(ctx.room_id)
        )
        if portal is None or portal.matrix_room_id is None:
            await ctx.reply(uow, recipients_text([]))
            return
        named = await room_recipients(uow, portal.matrix_room_id, self._s.local_domain)
        await ctx.reply(uow, recipients_text(named))

    @handles(REQUESTS)
    async def requests(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, cmd: ParsedCommand
    ) -> None:
        open_requests = await uow.erasure.requests_in(list(OPEN), limit=50)
        if not open_requests:
            await ctx.reply(uow, "No open erasure requests.")
            return
        lines = ["Open erasure requests (oldest first):"]
        for r in open_requests:
            subject = r.subject_matrix_id or r.subject_rc_username or r.subject_rc_id or "?"
            scope = ", ".join(
                p
                for p in (
                    f"room {r.scope_room}" if r.scope_room else "",
                    f"before {texts.day(r.scope_before_ms)}" if r.scope_before_ms else "",
                )
                if p
            )
            lines.append(
                f"{r.id}  {texts.STATE_WORDS.get(r.state, r.state)}  subject {subject}  "
                f"asked by {r.requester} ({r.requester_side})  received "
                f"{texts.day(r.received_ms)}  due {texts.day(r.extended_due_ms or r.due_ms)}"
                + (f"  [{scope}]" if scope else "")
            )
        await audit.AuditLog.append(
            uow, audit.SUBJECT_LOOKUP, ctx.sender, None, {"via": "!privacy requests"}
        )
        await ctx.reply(uow, "\n".join(lines))
