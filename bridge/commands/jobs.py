"""``privacy.job`` outbox actions: the command work that needs the erasure engine, the
ledger's reads or another server, run outside the inbox transaction.

The executor does the work and returns what to say and record; the ``on_done`` hook, in
the transaction that marks the action done, writes the audit entries, issues the delete
confirmation code, starts watching a request's progress, and queues the reply. A job
that runs again after a crash answers once (replies are keyed on the command's event id)
and never opens a second request for the same person and scope.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import attrs

from bridge.commands import confirmations, texts
from bridge.commands.authz import DM, Facts, Place, Rule, Who, decide
from bridge.commands.context import CommandContext
from bridge.commands.export import Identity, build, encode, own_subject
from bridge.commands.job_values import JOB, AuditEntry, Job, JobResult, Refusal, Scope, Watch
from bridge.commands.parser import ParsedCommand
from bridge.commands.privacy_base import DELETE, CommandSettings, place_of, refuse
from bridge.commands.retention_view import RetentionView
from bridge.commands.sides import Sides
from bridge.commands.tally import describe_scope, resolve_portal, status_text, summary_text, tally
from bridge.commands.verbs import Verb, declared, handles, request_id_first
from bridge.pipeline.actions import DoneHooks, Executors, Run, executor, on_done
from bridge.privacy import audit
from bridge.privacy.categories import Origin
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_model import (
    OPEN,
    ErasureError,
    ErasureScope,
    Requester,
    RequesterSide,
    RequestId,
    RequestNotFoundError,
)
from bridge.privacy.pseudonyms import person_name
from bridge.privacy.queries import AmbiguousSubjectError, LedgerQueries, SubjectNotFoundError
from bridge.storage.database import Database, UnitOfWork

log = logging.getLogger(__name__)

NOT_YOURS = "you can only cancel your own requests"

# Beside the engine's own request entries: why a request not made by its subject exists.
MODERATION = "request.moderation"  # a moderator's purge
VERIFICATION = "request.verification"  # an admin's erasure, with how identity was checked
Handler = Callable[[CommandContext, Job, Run[Job]], Awaitable[JobResult]]


def identity_of(ctx: CommandContext) -> Identity:
    """Only ever the sender's own account: never an argument, a mention or a pill."""
    if ctx.side == "matrix":
        return Identity(matrix_user_id=ctx.sender)
    return Identity(rc_user_id=ctx.sender, rc_username=ctx.sender_name)


def _reply(
    text: str,
    *,
    audit: tuple[AuditEntry, ...] = (),
    issue_code: Scope | None = None,
    watch: Watch | None = None,
) -> JobResult:
    return JobResult(reply=text, audit=audit, issue_code=issue_code, watch=watch)


def _refused(verb: str, reason: str, *, told: str | None = None) -> JobResult:
    """A refusal: ``reason`` goes to the audit log, ``told`` (default: the reason) to the
    person."""
    return JobResult(refused=Refusal(verb, reason, told or reason))


def _audit(kind: str, subject_ref: int | None, **details: str | int | None) -> AuditEntry:
    return AuditEntry(kind, subject_ref, details)


def _has_note(cmd: ParsedCommand) -> str | None:
    if cmd.options.get("note", "").strip():
        return None
    return "an admin erasure needs --note saying how the person's identity was verified"


STATUS = Verb(
    "status",
    ("!privacy status",),
    "what the bridge holds about you, who received it, your requests",
    Rule(Who.SELF, DM),
    rank=10,
)
EXPORT = Verb(
    "export",
    ("!privacy export",),
    "all of it as a JSON file (schema: export.schema.json)",
    Rule(Who.SELF, DM),
    rank=20,
)
DELETE_VERB = Verb(
    "delete",
    ("!privacy delete [--room <room>] [--before <YYYY-MM-DD>]",),
    "what erasure would cover; answers with a confirmation code",
    Rule(Who.SELF, DM),
    options=frozenset({"room", "before"}),
    rank=30,
)
CANCEL = Verb(
    "cancel",
    ("!privacy cancel <request id>",),
    "stop a request before it runs (admins: any request)",
    Rule(Who.OWNER_OR_ADMIN, DM),
    args=(1, 1),
    check=request_id_first,
    rank=40,
)
# In the room itself, or from the DM with --room; the answer and the progress go to the
# moderator's DM either way.
PURGE = Verb(
    "purge",
    ("!privacy purge <user> [--room <room>]",),
    "moderators: erase a person's bridged messages in a room you run",
    Rule(Who.MODERATOR, frozenset({Place.DM, Place.PORTAL})),
    args=(1, 1),
    options=frozenset({"room"}),
    rank=60,
)
# Reports name people: admins, in a DM only.
APPROVE = Verb(
    "approve",
    ("!privacy approve <request id>",),
    "let a waiting request run",
    Rule(Who.ADMIN, frozenset(), DM),
    args=(1, 1),
    check=request_id_first,
    admin=True,
    rank=110,
)
DENY = Verb(
    "deny",
    ("!privacy deny <request id> <reason>",),
    "refuse a request; the person is told the reason",
    Rule(Who.ADMIN, frozenset(), DM),
    args=(2, 2),
    check=request_id_first,
    admin=True,
    rank=120,
)
ERASE = Verb(
    "erase",
    ('!privacy erase <subject> --note "<how the person was verified>"',),
    "erase on someone's behalf (Matrix id, Rocket.Chat id or username)",
    Rule(Who.ADMIN, frozenset(), DM),
    args=(1, 1),
    options=frozenset({"note", "room", "before"}),
    check=_has_note,
    admin=True,
    rank=130,
)


def _before_ms(value: str | None) -> int | None:
    if value is None:
        return None
    day = dt.date.fromisoformat(value)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


class PrivacyJobs:
    def __init__(
        self,
        db: Database,
        engine: ErasureEngine,
        sides: Sides,
        settings: CommandSettings,
        retention: RetentionView | None = None,
    ) -> None:
        self._db = db
        self._retention_view = retention
        self._engine = engine
        self._sides = sides
        self._s = settings
        # The verbs' jobs, and two that no verb names: the second step of delete and
        # ``!bridge retention``.
        self._jobs: dict[str, Handler] = {
            verb.name: getattr(self, method) for verb, method in declared(PrivacyJobs).items()
        } | {"start": self._start, "retention": self._retention}

    def executors(self) -> Executors:
        return {JOB: executor(Job, self.run)}

    def on_done(self) -> DoneHooks:
        return {JOB: on_done(Job, JobResult, self.done)}

    async def run(self, run: Run[Job]) -> JobResult:
        p = run.payload
        ctx = p.ctx
        job = self._jobs.get(p.job)
        if job is None:
            return _reply("Sorry, the bridge cannot do that.")
        try:
            result = await job(ctx, p, run)
        except RequestNotFoundError:
            result = _refused(p.job, "no such request", told=self._unknown_request(ctx))
        except ErasureError as e:  # not in a state for this
            result = _refused(p.job, str(e))
        except AmbiguousSubjectError as e:
            result = _reply(f"{e}.")
        if not ctx.is_direct:
            # A purge typed in a portal: its answer and its progress name the request and
            # the person, so they go to the moderator's DM, never to the shared room.
            room = await self._sides.dm_room(ctx.side, ctx.sender, ctx.sender_name)
            result = attrs.evolve(result, reply_room=room)
        return result

    def _unknown_request(self, ctx: CommandContext) -> str:
        """An admin may learn that an id does not exist; anyone else gets exactly the
        refusal of an id that exists but is not theirs, so no answer tells them apart."""
        if self._s.actor(ctx).is_admin:
            return "there is no such request"
        return NOT_YOURS

    async def done(self, uow: UnitOfWork, run: Run[Job], result: JobResult) -> None:
        ctx = run.payload.ctx
        if result.reply_room is not None:
            await ctx.reply(uow, texts.ANSWERED_IN_DM, n=2)
            ctx = dataclasses.replace(
                ctx, room_id=result.reply_room, is_direct=True, in_portal=False
            )
        if result.refused is not None:
            r = result.refused
            await refuse(uow, ctx, r.verb, r.reason, answer=f"Refused: {r.told}.")
            return
        for entry in result.audit:
            await audit.AuditLog.append(
                uow, entry.kind, ctx.sender, entry.subject_ref, dict(entry.details)
            )
        text = result.reply
        if result.issue_code is not None:
            scope = attrs.asdict(result.issue_code)
            code = await confirmations.issue(uow, ctx.person, DELETE, scope)
            text += (
                f"\n\nTo go ahead, send within 10 minutes:\n!privacy delete confirm {code}\n"
                "The code works once. To leave things as they are, do nothing."
            )
        if result.watch is not None:
            w = result.watch
            await uow.commands.watch(w.request_id, ctx.side, ctx.room_id, w.state)
        await ctx.reply(uow, text, n=1)

    # -- self-service ------------------------------------------------------------------------

    @handles(STATUS)
    async def _status(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        identity = identity_of(ctx)
        async with self._db.unit_of_work() as uow:
            subject = await own_subject(uow, identity)
            opted_out = await uow.commands.opted_out(await person_name(uow, ctx.person))
            requests = [
                r
                for r in await uow.erasure.requests_in(list(OPEN), limit=1000)
                if r.requester == ctx.sender
                or (subject is not None and r.subject_ref == subject.id)
            ]
        counted = None if subject is None else await tally(LedgerQueries(self._db), subject)
        text = status_text(counted, opted_out, requests)
        entry = _audit(
            audit.SUBJECT_LOOKUP,
            None if subject is None else subject.id,
            via="!privacy status",
            side=ctx.side,
        )
        return _reply(text, audit=(entry,))

    @handles(EXPORT)
    async def _export(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        document = await build(self._db, identity_of(ctx), self._s.retention)
        data, digest = encode(document)
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        await self._sides.send_file(
            ctx.side, ctx.room_id, f"privacy-export-{day}.json", data, run.key, run.id
        )
        async with self._db.unit_of_work() as uow:
            subject = await own_subject(uow, identity_of(ctx))
        text = (
            f"Here is everything the bridge holds about you: {len(document['disclosures'])} "
            f"bridged item(s), {len(document['recipients'])} recipient server(s), "
            f"{len(document['requests'])} request(s). The file follows the JSON Schema "
            "export.schema.json shipped with the bridge (docs/commands.md). It lists ids and "
            "dates: what you wrote is kept by the bridge only while it is relayed, then "
            'deleted (the file\'s "storage" part says what is kept, and for how long).'
        )
        entry = _audit(
            audit.EXPORT_PRODUCED,
            None if subject is None else subject.id,
            via="!privacy export",
            side=ctx.side,
            sha256=digest,
            bytes=len(data),
        )
        return _reply(text, audit=(entry,))

    async def _scope(self, options: dict[str, str]) -> ErasureScope | str:
        room = None
        if options.get("room"):
            async with self._db.unit_of_work() as uow:
                portal = await resolve_portal(uow, options["room"])
            if portal is None or portal.matrix_room_id is None:
                return f"{options['room'][:60]!r} is not a bridged room"
            room = portal.matrix_room_id
        return ErasureScope(room=room, before_ms=_before_ms(options.get("before")))

    @handles(DELETE_VERB)
    async def _delete(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        scope = await self._scope(p.options)
        if isinstance(scope, str):
            return _reply(DELETE_VERB.usage_text(scope))
        async with self._db.unit_of_work() as uow:
            subject = await own_subject(uow, identity_of(ctx))
        if subject is None:
            return _reply("The bridge holds nothing about you: there is nothing to erase.")
        counted = await tally(LedgerQueries(self._db), subject, scope)
        if counted.items == 0:
            return _reply(f"Nothing of yours matches {describe_scope(scope)}: nothing to erase.")
        text = summary_text(counted, scope, self._s.mode)
        return _reply(text, issue_code=Scope(scope.room, scope.before_ms))

    async def _start(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        asked = p.scope or Scope()
        scope = ErasureScope(asked.room, asked.before_ms)
        identity = identity_of(ctx)
        async with self._db.unit_of_work() as uow:
            subject = await own_subject(uow, identity)
            same = [
                r
                for r in await uow.erasure.requests_in(list(OPEN), limit=1000)
                if subject is not None
                and r.subject_ref == subject.id
                and (r.scope_room, r.scope_before_ms) == (scope.room, scope.before_ms)
            ]
        if subject is None:
            return _reply("The bridge holds nothing about you: there is nothing to erase.")
        if same:  # a retried job, or the same request twice: one request is enough
            return _reply(f"Your erasure request {same[0].id} is already open.")
        own_id = identity.matrix_user_id or identity.rc_user_id
        assert own_id is not None
        side = RequesterSide.MATRIX if ctx.side == "matrix" else RequesterSide.ROCKETCHAT
        rid = await self._engine.request(own_id, Requester(ctx.sender, side), scope, verified=True)
        state = (await self._engine.status(rid)).state
        # The engine writes the request's own audit entries (received, verified, …).
        return _reply(texts.started(rid, self._s.mode), watch=Watch(rid, state.value))

    @handles(CANCEL)
    async def _cancel(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        rid = RequestId(p.args[0])
        status = await self._engine.status(rid)
        actor = self._s.actor(ctx)
        owns = status.requester.id == ctx.sender
        decision = decide("cancel", CANCEL.rule, actor, Facts(place_of(ctx), owns_request=owns))
        if not decision.allowed:
            return _refused("cancel", "not the requester", told=decision.reason)
        await self._engine.cancel(rid, ctx.sender)
        return _reply(f"Request {rid} is cancelled; nothing was erased.")

    async def _subject_ref(self, rid: str) -> int | None:
        async with self._db.unit_of_work() as uow:
            record = await uow.erasure.request(rid)
        return None if record is None else record.subject_ref

    # -- moderators --------------------------------------------------------------------------

    @handles(PURGE)
    async def _purge(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        room_ref = p.options.get("room") or (ctx.room_id if ctx.in_portal else None)
        if room_ref is None:
            return _reply(PURGE.usage_text("in a direct message, say which room: --room"))
        async with self._db.unit_of_work() as uow:
            portal = await resolve_portal(uow, room_ref)
        if portal is None or portal.matrix_room_id is None:
            return _reply(f"{room_ref[:60]!r} is not a bridged room.")
        try:
            target = await LedgerQueries(self._db).find_subject(p.args[0])
        except SubjectNotFoundError:
            return _reply(f"Nothing from {p.args[0][:60]!r} was bridged: nothing to purge.")
        actor = self._s.actor(ctx)
        is_rc = target.origin is Origin.ROCKETCHAT
        facts = Facts(place_of(ctx), target_is_rocketchat_user=is_rc)
        if decide("purge", PURGE.rule, actor, facts).allowed:  # ask the server only when it matters
            moderates = await self._sides.moderates(ctx.side, portal, ctx.sender)
            facts = Facts(place_of(ctx), moderates=moderates, target_is_rocketchat_user=is_rc)
        decision = decide("purge", PURGE.rule, actor, facts)
        if not decision.allowed or decision.pending:
            return _refused("purge", decision.reason or "could not check your role")
        identifier = target.rc_user_id if is_rc else target.matrix_user_id
        assert identifier is not None
        side = RequesterSide.MATRIX if ctx.side == "matrix" else RequesterSide.ROCKETCHAT
        scope = ErasureScope(room=portal.matrix_room_id)
        rid = await self._engine.request(identifier, Requester(ctx.sender, side), scope)
        async with self._db.unit_of_work() as uow:
            # A moderation action, not the subject's own request: said so in the log.
            await uow.erasure.log(rid, "moderation", ctx.sender, "purge by a room moderator")
        await self._engine.verify(rid, f"moderator:{ctx.sender}")
        state = (await self._engine.status(rid)).state
        entry = _audit(
            MODERATION, target.id, request_id=rid, room=portal.matrix_room_id, side=ctx.side
        )
        return _reply(
            f"Purge request {rid} for {p.args[0][:60]} in {portal.name or room_ref} is "
            f"{texts.STATE_WORDS.get(state.value, state.value)}; progress follows in this "
            "direct message.",
            audit=(entry,),
            watch=Watch(rid, state.value),
        )

    async def _retention(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        """``!bridge retention``: the room's moderators (either side) and admins."""
        room_ref = p.options.get("room") or (ctx.room_id if ctx.in_portal else None)
        if room_ref is None:
            return _reply("Usage: !bridge retention in a bridged room, or --room <room>.")
        async with self._db.unit_of_work() as uow:
            portal = await resolve_portal(uow, room_ref)
        if portal is None or self._retention_view is None:
            return _reply(f"{room_ref[:60]!r} is not a bridged room.")
        if not self._s.actor(ctx).is_admin and not await self._sides.moderates(
            ctx.side, portal, ctx.sender
        ):
            return _refused("retention", "only the room's moderators and bridge admins")
        return _reply(await self._retention_view.text(portal))

    # -- admins ------------------------------------------------------------------------------

    @handles(APPROVE)
    async def _approve(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        rid = RequestId(p.args[0])
        await self._engine.approve(rid, ctx.sender)
        return _reply(f"Request {rid} is approved and will run now.")

    @handles(DENY)
    async def _deny(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        rid, reason = RequestId(p.args[0]), p.args[1]
        await self._engine.deny(rid, ctx.sender, reason)
        return _reply(f"Request {rid} is denied; the person is told why.")

    @handles(ERASE)
    async def _erase(self, ctx: CommandContext, p: Job, run: Run[Job]) -> JobResult:
        scope = await self._scope(p.options)
        if isinstance(scope, str):
            return _reply(ERASE.usage_text(scope))
        note = p.options["note"].strip()[:500]
        try:
            rid = await self._engine.request(
                p.args[0], Requester(ctx.sender, RequesterSide.ADMIN), scope
            )
        except SubjectNotFoundError:
            return _reply(f"The bridge holds nothing about {p.args[0][:60]!r}.")
        async with self._db.unit_of_work() as uow:
            await uow.erasure.log(rid, "verification_note", ctx.sender, note)
        await self._engine.verify(rid, ctx.sender)
        if self._s.mode == "admin-approval":  # the officer asking is the one approving
            await self._engine.approve(rid, ctx.sender)
        state = (await self._engine.status(rid)).state
        entry = _audit(VERIFICATION, await self._subject_ref(rid), request_id=rid, note=note)
        return _reply(
            f"Erasure request {rid} recorded on the person's behalf ({describe_scope(scope)}); "
            "progress and the report follow here.",
            audit=(entry,),
            watch=Watch(rid, state.value),
        )
