"""The erasure engine: one request, every copy, each tracked (docs/erasure.md).

A request moves received → verified → (approved) → planned → executing → done or
partially_done. Every external effect is an outbox action (bridge/privacy/erasure_kinds),
so the engine itself only moves states: ``step()`` plans approved requests, enqueues
planned ones, and finishes executing ones whose actions are all settled. Each move is a
conditional update, so several engines (PostgreSQL) never move a request twice, and a
crash resumes where the request was: its state, its plan cursor and the outbox are all
durable. docs/erasure.md is the operator's description.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bridge.config import Config
from bridge.config.model import PrivacyConfig, PrivacyMode
from bridge.ids import RCUserID, ServerName, UserID
from bridge.pipeline import keys
from bridge.pipeline.waits import wait_set
from bridge.privacy import pseudonyms
from bridge.privacy import report as words
from bridge.privacy.audit import SUBJECT_LOOKUP, AuditLog
from bridge.privacy.deadlines import Jurisdiction, check_extension, deadlines
from bridge.privacy.erasure_audit import log_event
from bridge.privacy.erasure_model import (
    CANCELLABLE,
    OPEN,
    ErasureScope,
    ErasureStatus,
    InvalidTransitionError,
    Requester,
    RequestId,
    RequestNotFoundError,
    RequestState,
)
from bridge.privacy.erasure_plan import ErasurePlanner, PlanSettings
from bridge.privacy.erasure_protocol import Response
from bridge.privacy.erasure_status import read_status, render_report
from bridge.privacy.expiry import is_expiry, open_expiry
from bridge.privacy.forget import Identity, forget
from bridge.privacy.ledger import DisclosureLedger, LedgerSettings, rocketchat_recipient
from bridge.privacy.pseudonyms import PREFIX
from bridge.privacy.queries import LedgerQueries
from bridge.privacy.subjects import MatrixPerson, Person, RCPerson, identity
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM, RequestRecord
from bridge.storage.outbox import DEAD, DROPPED

log = logging.getLogger(__name__)

# 11 CCR §7101(a): records of consumer requests and responses kept at least 24 months.
LOG_RETENTION_MS = 730 * 86_400_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class EngineSettings:
    plan: PlanSettings
    ledger: LedgerSettings
    mode: PrivacyMode = "self-service"
    poll_seconds: float = 1.0
    # Servers running an erasure receiver: a request waits for their final answer.
    receivers: tuple[str, ...] = ()
    # How long after a whole-subject erasure the person's pseudonym keys are shredded
    # (privacy.pseudonym_retention_days).
    pseudonym_retention_ms: int = PrivacyConfig.pseudonym_retention_days * DAY_MS


@dataclass(frozen=True)
class Overdue:
    id: RequestId
    state: RequestState
    due_ms: int
    receipt_overdue: bool


def erasure_settings(config: Config) -> EngineSettings:
    ledger = LedgerSettings(
        local_server=ServerName(config.homeserver.domain),
        rocketchat=rocketchat_recipient(config.rocketchat.url),
        hash_key=config.privacy.hash_key.encode(),
    )
    plan = PlanSettings(
        local_server=ledger.local_server,
        rocketchat=ledger.rocketchat,
        bot=config.bot_mxid,
        admin_token=bool(config.homeserver.admin_token),
    )
    return EngineSettings(
        plan=plan,
        ledger=ledger,
        mode=config.privacy.mode,
        receivers=tuple(config.privacy.receivers),
        pseudonym_retention_ms=config.privacy.pseudonym_retention_days * DAY_MS,
    )


class ErasureEngine:
    def __init__(
        self,
        db: Database,
        settings: EngineSettings,
        wake_outbox: Callable[[], None] | None = None,
        *,
        after_finish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        # Runs once a request finished (its audit entry committed): the audit checkpoint.
        self._after_finish = after_finish
        self._settings = settings
        self._planner = ErasurePlanner(db, settings.plan)
        self._ledger = DisclosureLedger(settings.ledger)
        self.wake_outbox = wake_outbox or (lambda: None)
        self._wake = asyncio.Event()

    # -- requests ------------------------------------------------------------------------

    async def request(
        self,
        subject: str,
        requester: Requester,
        scope: ErasureScope | None = None,
        jurisdiction: Jurisdiction = Jurisdiction.GDPR,
        *,
        verified: bool = False,
    ) -> RequestId:
        """Record a request about ``subject`` (a Matrix id, Rocket.Chat id or username).

        Raises ``SubjectNotFoundError`` when the ledger has nothing about that person.
        """
        scope = scope or ErasureScope()
        found = await LedgerQueries(self._db).find_subject(subject)
        received = now_ms()
        due = deadlines(jurisdiction, received)
        request_id = RequestId(f"er-{secrets.token_hex(8)}")
        async with self._db.unit_of_work() as uow:
            matrix_id = found.matrix_user_id
            if matrix_id is None and found.rc_user_id is not None:
                ghost = await uow.bridging.ghost(found.rc_user_id)
                matrix_id = None if ghost is None else UserID(ghost.matrix_user_id)
            await uow.erasure.add_request(
                id=request_id,
                subject_ref=found.id,
                subject_origin=int(found.origin),
                subject_matrix_id=matrix_id,
                subject_rc_id=found.rc_user_id,
                subject_rc_username=found.rc_username,
                requester=requester.id,
                requester_side=requester.side.value,
                jurisdiction=jurisdiction.value,
                scope_room=scope.room,
                scope_before_ms=scope.before_ms,
                state=RequestState.RECEIVED.value,
                received_ms=received,
                due_ms=due.due_ms,
                receipt_due_ms=due.receipt_due_ms,
            )
            await log_event(uow, request_id, "received", requester.id, _scope_text(scope))
        log.info("Erasure request %s received (%s)", request_id, jurisdiction.value)
        if verified:
            await self.verify(request_id, requester.id)
        return request_id

    async def expire(
        self, room_id: str, before_ms: int, *, files_only: bool = False
    ) -> RequestId | None:
        """Expire what ``room_id`` holds from before ``before_ms`` (bridge.privacy.expiry);
        None when an earlier expiry already reaches that far, or nothing new expired (a
        request every round would fill the request log with empty ones)."""
        async with self._db.unit_of_work() as uow:
            start = await uow.erasure.expiry_bounds(room_id)
        if start is not None and start >= before_ms:
            return None
        page = await LedgerQueries(self._db).room_items(room_id, start or 0, before_ms, limit=1)
        if not page.items:
            return None
        async with self._db.unit_of_work() as uow:
            opened = await open_expiry(uow, room_id, before_ms, files_only=files_only)
        if opened is not None:
            self.wake()
        return opened

    async def verify(self, request_id: str, by: str) -> None:
        """The requester's identity was checked (e.g. the command came from the account)."""
        await self._move(request_id, [RequestState.RECEIVED], RequestState.VERIFIED, by)
        if self._settings.mode == "self-service":
            await self._move(
                request_id, [RequestState.VERIFIED], RequestState.APPROVED, "policy:self-service"
            )
        self.wake()

    async def approve(self, request_id: str, by: str) -> None:
        await self._move(request_id, [RequestState.VERIFIED], RequestState.APPROVED, by)
        self.wake()

    async def deny(self, request_id: str, by: str, reason: str) -> None:
        """Refuse (GDPR Art. 12(4): the person must be told why, and of their remedies)."""
        await self._move(request_id, CANCELLABLE, RequestState.DENIED, by, reason, finish=True)

    async def cancel(self, request_id: str, by: str) -> None:
        """Withdraw a request before anything was executed."""
        await self._move(request_id, CANCELLABLE, RequestState.CANCELLED, by, finish=True)

    async def confirm_receipt(self, request_id: str, by: str) -> None:
        """CCPA 11 CCR §7021(a): receipt confirmed to the person within 10 business days."""
        async with self._db.unit_of_work() as uow:
            await self._get(uow, request_id)
            await uow.erasure.update_request(request_id, receipt_confirmed_ms=now_ms())
            await log_event(uow, request_id, "receipt_confirmed", by)

    async def extend(self, request_id: str, by: str, new_due_ms: int, reason: str) -> None:
        async with self._db.unit_of_work() as uow:
            request = await self._get(uow, request_id)
            jurisdiction = Jurisdiction(request.jurisdiction)
            check_extension(jurisdiction, request.received_ms, new_due_ms, reason)
            await uow.erasure.update_request(
                request_id, extended_due_ms=new_due_ms, extension_reason=reason
            )
            await log_event(uow, request_id, "extended", by, reason)

    async def _move(
        self,
        request_id: str,
        sources: tuple[RequestState, ...] | list[RequestState],
        target: RequestState,
        by: str,
        detail: str | None = None,
        *,
        finish: bool = False,
    ) -> None:
        async with self._db.unit_of_work() as uow:
            request = await self._get(uow, request_id)
            values: dict[str, object] = {"state": target.value}
            if finish:
                values["finished_ms"] = now_ms()
            moved = await uow.erasure.update_request(
                request_id, from_states=[s.value for s in sources], **values
            )
            if not moved:
                raise InvalidTransitionError(
                    f"request {request_id} is {request.state}; cannot become {target.value}"
                )
            await log_event(uow, request_id, target.value, by, detail)

    @staticmethod
    async def _get(uow: UnitOfWork, request_id: str) -> RequestRecord:
        request = await uow.erasure.request(request_id)
        if request is None:
            raise RequestNotFoundError(f"no erasure request {request_id!r}")
        return request

    # -- reading -------------------------------------------------------------------------

    async def status(self, request_id: str) -> ErasureStatus:
        async with self._db.unit_of_work() as uow:
            request = await self._get(uow, request_id)
            return await read_status(uow, request)

    async def record_read(self, request_id: str, actor: str, via: str) -> None:
        """A read of a request (it names the person) goes on the audit record."""
        async with self._db.unit_of_work() as uow:
            request = await uow.erasure.request(request_id)
            await AuditLog.append(
                uow,
                SUBJECT_LOOKUP,
                actor,
                None if request is None else request.subject_ref,
                {"via": via, "request_id": request_id[:40], "found": request is not None},
            )

    async def report(self, request_id: str) -> str:
        """The plain-language report for the person (and the request log)."""
        return render_report(await self.status(request_id))

    async def requests(self, states: Sequence[str], limit: int) -> list[RequestRecord]:
        """Requests in ``states``, oldest first (at most ``limit``)."""
        async with self._db.unit_of_work() as uow:
            return await uow.erasure.requests_in(list(states), limit)

    async def overdue(self, now: int | None = None) -> list[Overdue]:
        """Open requests past their (extended) due date or their receipt deadline."""
        now = now_ms() if now is None else now
        async with self._db.unit_of_work() as uow:
            late = {r.id: r for r in await uow.erasure.open_past_due(now, OPEN)}
            receipts = set(await uow.erasure.unconfirmed_receipts(now, OPEN))
            for rid in receipts - late.keys():
                record = await uow.erasure.request(rid)
                if record is not None:
                    late[rid] = record
        return [
            Overdue(
                RequestId(r.id),
                RequestState(r.state),
                r.extended_due_ms or r.due_ms,
                r.id in receipts,
            )
            for r in late.values()
        ]

    async def prune_log(self, now: int | None = None) -> int:
        """Drop request logs finished more than 24 months ago (11 CCR §7101(a))."""
        cutoff = (now_ms() if now is None else now) - LOG_RETENTION_MS
        async with self._db.unit_of_work() as uow:
            return await uow.erasure.prune_finished_before(cutoff)

    async def record_ack(self, uow: UnitOfWork, request_id: str, server: str, sender: str) -> bool:
        """A remote bridge answered our notice: "acknowledged by remote" for its server."""
        changed = await uow.erasure.set_recipient(
            request_id, server, NOTICE_ROOM, words.ACKNOWLEDGED, f"by {sender}"
        )
        if changed:
            await log_event(uow, request_id, "acknowledged", sender, server)
        return changed > 0

    async def record_response(
        self, uow: UnitOfWork, request_id: str, server: str, sender: str, answer: Response
    ) -> bool:
        """A receiver's final answer: "purged by recipient" or "refused by recipient"."""
        status = words.PURGED if answer.status == "applied" else words.REFUSED
        detail = (answer.detail if status == words.PURGED else answer.reason)[:400]
        changed = await uow.erasure.set_recipient(
            request_id, server, NOTICE_ROOM, status, detail or None, unless=words.ANSWERED
        )
        if changed:
            await log_event(uow, request_id, answer.status, sender, f"{server}: {detail}"[:500])
            self.wake()
        return changed > 0

    # -- driving -------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                busy = await self.step()
            except Exception:  # a boundary: log, keep the loop alive, retry next round
                log.exception("Erasure engine step failed")
                busy = 0
            if not busy:
                await wait_set(self._wake, self._settings.poll_seconds)

    async def step(self) -> int:
        """One pass over open requests; returns how many moved."""
        moved = 0
        async with self._db.unit_of_work() as uow:
            open_requests = await uow.erasure.requests_in(
                [RequestState.APPROVED, RequestState.PLANNED, RequestState.EXECUTING]
            )
        for request in open_requests:
            if request.state == RequestState.APPROVED:
                await self._planner.plan_page(request)
                moved += 1
            elif request.state == RequestState.PLANNED:
                if await self._planner.enqueue(request):
                    self.wake_outbox()
                    moved += 1
            elif await self._finish_if_settled(request):
                moved += 1
        await self._flag_overdue()
        return moved

    async def _flag_overdue(self) -> None:
        for late in await self.overdue():
            async with self._db.unit_of_work() as uow:
                flagged = await uow.erasure.update_request(
                    late.id, from_states=OPEN, overdue_flagged_ms=now_ms()
                )
                record = await uow.erasure.request(late.id)
                if flagged and record is not None and record.note != "overdue":
                    await uow.erasure.update_request(late.id, note="overdue")
                    await log_event(uow, late.id, "overdue", None, "flagged to admins")
                    log.warning(
                        "Erasure request %s is overdue (state %s)", late.id, late.state.value
                    )

    async def _finish_if_settled(self, request: RequestRecord) -> bool:
        async with self._db.unit_of_work() as uow:
            counts = await uow.erasure.action_counts(keys.erasure_key_prefix(request.id))
            if counts.get("pending", 0):
                return False
            status = await read_status(uow, request)
            if any(s.status == words.PENDING for s in status.steps):
                return False  # a step not queued yet waits for what comes before it
            # The register's receivers, and the config's for servers not marked there.
            receivers = set(self._settings.receivers) | await uow.partners.receivers()
            if self._awaits_receiver(status, receivers):
                return False
            # A dead letter (given up, or dropped by an operator) left something undone.
            given_up = sum(counts.get(s, 0) for s in (DEAD, DROPPED))
            partial = given_up > 0 or _incomplete(status)
            state = RequestState.PARTIALLY_DONE if partial else RequestState.DONE
            finished = now_ms()
            if not await uow.erasure.update_request(
                request.id,
                from_states=[RequestState.EXECUTING.value],
                state=state.value,
                finished_ms=finished,
            ):
                return False
            await self._scrub_copies(uow, request, finished)
            await log_event(uow, request.id, state.value, None, render_report(status))
        log.info("Erasure request %s finished: %s", request.id, state.value)
        if self._after_finish is not None:
            await self._after_finish()
        return True

    def _awaits_receiver(self, status: ErasureStatus, receivers: set[str]) -> bool:
        """A server with a receiver was notified and has not answered "applied" or
        "refused": the request stays open for its answer until the deadline."""
        if now_ms() >= status.due_ms:
            return False
        return any(
            r.room_id is None
            and r.recipient in receivers
            and r.status in (words.ADMIN_NOTIFIED, words.ACKNOWLEDGED)
            for r in status.recipients
        )

    async def _scrub_copies(self, uow: UnitOfWork, request: RequestRecord, finished: int) -> None:
        """Keep only pseudonymous tombstones (GDPR Art. 17(1) vs Art. 5(2) evidence)."""
        items = await uow.erasure.items(request.id)
        # Only copies this request acted on: a mention or a reaction points at another
        # person's message, which stays theirs.
        rc_ids = sorted(
            {i.rc_message_id for i in items if i.rc_message_id and i.rc_status != words.NOT_NEEDED}
        )
        event_ids = [
            i.event_id for i in items if i.event_id and i.matrix_status != words.NOT_NEEDED
        ]
        await uow.erasure.scrub_message_map(rc_ids)
        needles = event_ids + rc_ids
        scope = ErasureScope(request.scope_room, request.scope_before_ms)
        person: Person | None = None
        if scope.whole:
            needles += [x for x in (request.subject_matrix_id, request.subject_rc_id) if x]
            person = (
                RCPerson(RCUserID(request.subject_rc_id))
                if request.subject_rc_id
                else MatrixPerson(UserID(request.subject_matrix_id or ""))
            )
        for start in range(0, len(needles), 50):
            await uow.erasure.scrub_queues(needles[start : start + 50])
        if is_expiry(request.id):
            return  # about a room: no person to pseudonymise
        found = await uow.ledger.find_subject(
            **(
                {"rc_user_id": request.subject_rc_id}
                if request.subject_rc_id
                else {"matrix_user_id": request.subject_matrix_id}
            )
        )
        alias = (
            (await pseudonyms.digest(uow, identity(found[0]))).hex() if found else request.pseudonym
        )
        if person is not None:
            await self._ledger.pseudonymise(uow, person)
            if alias is not None:
                who = Identity(
                    request.subject_matrix_id, request.subject_rc_id, request.subject_rc_username
                )
                # The person's pseudonym keys outlive the request by a grace only
                # (docs/retention.md, "Crypto-shredding").
                shred_at = finished + self._settings.pseudonym_retention_ms
                await forget(uow, who, f"{PREFIX}{alias}", shred_at)
        # The log keeps the pseudonym only: a returning requester can be matched (Art. 5(2)).
        await uow.erasure.update_request(
            request.id,
            pseudonym=alias,
            subject_matrix_id=None,
            subject_rc_id=None,
            subject_rc_username=None,
        )


def _incomplete(status: ErasureStatus) -> bool:
    if any(words.is_failure(s) for s in (*status.matrix, *status.rocketchat)):
        return True
    if any(words.is_failure(r.status) for r in status.recipients):
        return True
    # Delivery evidence is an observation, not an erasure step: without it nothing is left
    # undone, the report just says less.
    return any(
        s.status == words.NOT_POSSIBLE or words.is_failure(s.status)
        for s in status.steps
        if s.step != "delivery_evidence"
    )


def _scope_text(scope: ErasureScope) -> str:
    if scope.whole:
        return "scope: everything"
    parts = []
    if scope.room:
        parts.append(f"room {scope.room}")
    if scope.before_ms is not None:
        parts.append(f"before {scope.before_ms}")
    return "scope: " + ", ".join(parts)
