"""``!privacy …``: the one handler both sides' command intakes call.

It runs inside the inbox worker's unit of work, so it does database work only: finds the
verb's spec (bridge/commands/verbs.py), checks the arguments and the authorization
(bridge/commands/authz.py), answers what the database alone can answer
(bridge/commands/inline.py), and hands everything that needs the erasure engine, the
ledger's reads or another server to a ``privacy.job`` outbox action
(bridge/commands/jobs.py). Every refusal is answered and written to the audit log, and
changes nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bridge.commands.authz import Actor, Decision, Facts, decide
from bridge.commands.context import CommandContext
from bridge.commands.inline import CONFIRM, InlineVerbs
from bridge.commands.jobs import PrivacyJobs
from bridge.commands.parser import ParsedCommand
from bridge.commands.privacy_base import CommandSettings, enqueue_job, place_of, refuse
from bridge.commands.texts import POINTER
from bridge.commands.verbs import Catalogue, Verb, declared
from bridge.storage.database import UnitOfWork

# Every !privacy verb, from the classes whose methods run them.
CATALOGUE = Catalogue(InlineVerbs, PrivacyJobs)
InlineHandler = Callable[[UnitOfWork, CommandContext, Actor, ParsedCommand], Awaitable[None]]


class PrivacyCommands:
    def __init__(self, settings: CommandSettings) -> None:
        self._s = settings
        inline = InlineVerbs(settings, {a: CATALOGUE.help_text(a) for a in (False, True)})
        self._inline: dict[str, InlineHandler] = {
            verb.name: getattr(inline, method) for verb, method in declared(InlineVerbs).items()
        }

    async def __call__(self, uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> None:
        actor = self._s.actor(ctx)
        spec = CONFIRM if cmd.verb == "delete" and cmd.args[:1] == ("confirm",) else None
        spec = spec or CATALOGUE.get(cmd.verb)
        if spec is None:
            unknown = f"unknown command !privacy {cmd.verb[:40]}"
            await refuse(uow, ctx, cmd.verb, unknown, answer=CATALOGUE.usage(cmd.verb, unknown))
            return
        problem = spec.problem(cmd)
        if problem is not None:
            await refuse(uow, ctx, spec.name, problem, answer=CATALOGUE.usage(cmd.verb, problem))
            return
        decision = decide(spec.name, spec.rule, actor, Facts(place_of(ctx)))
        if not decision.allowed:
            await self._refused(uow, ctx, spec, decision)
            return
        handler = self._inline.get(spec.name)
        if handler is not None:
            await handler(uow, ctx, actor, cmd)
        else:
            await enqueue_job(uow, ctx, spec.name, list(cmd.args), dict(cmd.options))

    async def _refused(
        self, uow: UnitOfWork, ctx: CommandContext, spec: Verb, decision: Decision
    ) -> None:
        # Outside the DM the answer is only the pointer: nothing about the person is said
        # in a room others read.
        answer = POINTER if decision.wrong_place else None
        await refuse(uow, ctx, spec.name, decision.reason, answer=answer)
