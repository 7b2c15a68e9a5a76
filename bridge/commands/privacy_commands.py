"""``!privacy …``: the one handler both sides' command intakes call.

It runs inside the inbox worker's unit of work, so it does database work only: checks
the rate, the arguments and the authorization (bridge/commands/authz.py), answers what
the database alone can answer, and hands everything that needs the erasure engine, the
ledger's reads or another server to a ``privacy.job`` outbox action (bridge/commands/jobs.py).
Every refusal is answered and written to the audit log, and changes nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from bridge.commands import confirmations, texts
from bridge.commands.authz import Actor, Decision, Facts, Place, decide
from bridge.commands.context import CommandContext
from bridge.commands.export import Retention
from bridge.commands.parser import ParsedCommand
from bridge.config import Config
from bridge.config.model import PrivacyMode
from bridge.privacy import audit
from bridge.privacy.erasure_model import OPEN
from bridge.privacy.room_recipients import recipients_text, room_recipients
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import NewAction

log = logging.getLogger(__name__)

JOB = "privacy.job"
DELETE = "delete"  # the confirmation codes' purpose
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REQUEST_ID = re.compile(r"^er-[0-9a-f]{16}$")
# Options each verb accepts (anything else is a usage error, never ignored).
_OPTIONS: dict[str, frozenset[str]] = {
    "delete": frozenset({"room", "before"}),
    "purge": frozenset({"room"}),
    "erase": frozenset({"note", "room", "before"}),
}
# Positional arguments: (min, max).
_ARGS: dict[str, tuple[int, int]] = {
    "help": (0, 0),
    "notice": (0, 0),
    "status": (0, 0),
    "export": (0, 0),
    "delete": (0, 0),
    "optout": (0, 0),
    "optin": (0, 0),
    "cancel": (1, 1),
    "purge": (1, 1),
    "requests": (0, 0),
    "recipients": (0, 0),
    "approve": (1, 1),
    "deny": (2, 2),
    "erase": (1, 1),
}


@dataclass(frozen=True)
class CommandSettings:
    admins: frozenset[str]
    local_domain: str
    mode: PrivacyMode
    notice_text: str | None
    notice_url: str | None
    rate_per_minute: int
    moderator_power_level: int
    # How long each kind of record is kept, as !privacy export tells the person.
    retention: Retention = Retention()

    @classmethod
    def of(cls, config: Config) -> CommandSettings:
        p = config.privacy
        return cls(
            admins=frozenset(p.admins),
            local_domain=config.homeserver.domain,
            mode=p.mode,
            notice_text=p.notice_text,
            notice_url=p.notice_url,
            rate_per_minute=p.command_rate_per_minute,
            moderator_power_level=p.moderator_power_level,
            retention=Retention.of(config),
        )

    def actor(self, ctx: CommandContext) -> Actor:
        # Admins are named by Matrix id, or by Rocket.Chat username (ids are not typed by
        # people); a Rocket.Chat username is only trusted from Rocket.Chat itself.
        is_admin = (
            ctx.sender in self.admins if ctx.side == "matrix" else ctx.sender_name in (self.admins)
        )
        local = ctx.side == "rocketchat" or ctx.sender.endswith(":" + self.local_domain)
        return Actor(ctx.side, ctx.sender, ctx.sender_name, is_admin, local)


def place_of(ctx: CommandContext) -> Place:
    if ctx.is_direct:
        return Place.DM
    return Place.PORTAL if ctx.in_portal else Place.OTHER


async def refuse(
    uow: UnitOfWork, ctx: CommandContext, verb: str, reason: str, *, answer: str | None = None
) -> None:
    """Answer, and record the refusal in the audit log; nothing else changes."""
    log.info("Refused !privacy %s on %s: %s", verb, ctx.side, reason)
    await audit.AuditLog.append(
        uow,
        audit.COMMAND_REFUSED,
        ctx.sender,
        None,
        {"command": verb[:32], "side": ctx.side, "reason": reason[:200]},
    )
    await ctx.reply(uow, answer or f"Refused: {reason}.")


class PrivacyCommands:
    def __init__(self, settings: CommandSettings) -> None:
        self._s = settings

    async def __call__(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        actor = self._s.actor(ctx)
        verb = cmd.verb
        if verb == "delete" and cmd.args[:1] == ("confirm",):
            verb = "confirm"
        problem = _argument_problem(cmd, verb)
        if problem is not None:
            await refuse(uow, ctx, verb, problem, answer=texts.usage(cmd.verb, problem))
            return
        decision = decide("delete" if verb == "confirm" else verb, actor, Facts(place_of(ctx)))
        if not decision.allowed:
            await self._refused(uow, ctx, verb, decision)
            return
        await self._run(uow, ctx, actor, verb, cmd)

    async def _refused(
        self, uow: UnitOfWork, ctx: CommandContext, verb: str, decision: Decision
    ) -> None:
        # Outside the DM the answer is only the pointer: nothing about the person is said
        # in a room others read.
        answer = texts.POINTER if decision.wrong_place else None
        await refuse(uow, ctx, verb, decision.reason, answer=answer)

    async def _run(
        self, uow: UnitOfWork, ctx: CommandContext, actor: Actor, verb: str, cmd: ParsedCommand
    ) -> None:
        if verb == "help":
            await ctx.reply(uow, texts.help_text(actor.is_admin))
        elif verb == "notice":
            await ctx.reply(uow, texts.notice_text(self._s.notice_text, self._s.notice_url))
        elif verb in ("optout", "optin"):
            await self._opt(uow, ctx, verb == "optout")
        elif verb == "confirm":
            await self._confirm(uow, ctx, cmd.args[1])
        elif verb == "requests":
            await self._requests(uow, ctx)
        elif verb == "recipients":
            await self._recipients(uow, ctx)
        else:
            await enqueue_job(uow, ctx, verb, list(cmd.args), dict(cmd.options))

    async def _opt(self, uow: UnitOfWork, ctx: CommandContext, out: bool) -> None:
        changed = await uow.commands.set_opt_out(ctx.person, out)
        if out:
            text = (
                "You are opted out: your messages are no longer bridged to other servers; "
                "the room sees a short note without their content. !privacy optin resumes."
                if changed
                else "You were already opted out."
            )
        else:
            text = (
                "You are opted in again: your messages are bridged from now on (nothing you "
                "wrote while opted out is sent)."
                if changed
                else "You were not opted out."
            )
        await ctx.reply(uow, text)

    async def _confirm(self, uow: UnitOfWork, ctx: CommandContext, code: str) -> None:
        checked = await confirmations.check(uow, ctx.person, DELETE, code)
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
        await enqueue_job(uow, ctx, "start", [], {}, extra={"scope": checked.payload})
        await ctx.reply(uow, "Confirmed. Starting the erasure …")

    async def _recipients(self, uow: UnitOfWork, ctx: CommandContext) -> None:
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

    async def _requests(self, uow: UnitOfWork, ctx: CommandContext) -> None:
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


def _argument_problem(cmd: ParsedCommand, verb: str) -> str | None:
    if verb == "confirm":
        return None if len(cmd.args) == 2 and not cmd.options else "give exactly one code"
    bounds = _ARGS.get(verb)
    if bounds is None:
        return f"unknown command !privacy {verb[:40]}"
    low, high = bounds
    if not low <= len(cmd.args) <= high:
        return "wrong number of arguments"
    unknown = set(cmd.options) - _OPTIONS.get(verb, frozenset())
    if unknown:
        return f"unknown option --{sorted(unknown)[0][:40]}"
    before = cmd.options.get("before")
    if before is not None and not _DATE.match(before):
        return "--before needs a date like 2026-01-31"
    if verb in ("cancel", "approve", "deny") and not _REQUEST_ID.match(cmd.args[0]):
        return f"{cmd.args[0][:40]!r} is not a request id (they look like er-0123456789abcdef)"
    if verb == "erase" and not cmd.options.get("note", "").strip():
        return "an admin erasure needs --note saying how the person's identity was verified"
    return None


async def enqueue_job(
    uow: UnitOfWork,
    ctx: CommandContext,
    job: str,
    args: list[str],
    options: dict[str, str],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Hand work that needs the engine or another server to the outbox (once per command)."""
    digest = hashlib.sha256(ctx.event_id.encode()).hexdigest()[:24]
    await uow.enqueue(
        NewAction(
            key=f"privacy-job:{digest}:{job}",
            kind=JOB,
            # One person's commands run in order; other people's are not held up.
            queue=f"privacy:{ctx.side}:{ctx.sender}",
            payload={
                "job": job,
                "ctx": dataclasses.asdict(ctx),
                "args": args,
                "options": options,
                **(extra or {}),
            },
        )
    )
