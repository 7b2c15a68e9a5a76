"""The audit log's table access, and the read-only aggregates the dashboard and the
metrics need (request log, per-server counts, queue lag), as plain values.

Hashing and the meaning of entries live in ``bridge.privacy.audit``; this module only
stores and reads rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge.storage.audit_rows import HEAD_ID, AuditEntryRow, AuditHeadRow
from bridge.storage.bridging_rows import MessageRow
from bridge.storage.erasure_rows import ErasureRecipientRow, ErasureRequestRow
from bridge.storage.ledger_aggregate import DAY_MS, first_day
from bridge.storage.ledger_rows import Disclosure, LedgerReach, LedgerRoom, LedgerServer
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import PENDING

# The ledger's recipient rule as a join (the same as bridge.storage.ledger_reads): an
# item reached a server when it was sent inside one of the server's reach ranges.
_IN_REACH = and_(
    LedgerReach.room_ref == Disclosure.room_ref,
    Disclosure.sent_ms >= LedgerReach.from_ms,
    or_(LedgerReach.to_ms.is_(None), Disclosure.sent_ms < LedgerReach.to_ms),
)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at_ms: int
    kind: str
    actor: str
    subject_ref: int | None
    details: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class RequestRow:
    """One erasure request as the request log lists it (no personal data once finished)."""

    id: str
    state: str
    jurisdiction: str
    subject_ref: int
    subject: str | None  # an account id while open, None once finished
    pseudonym: str | None
    requester_side: str
    received_ms: int
    due_ms: int
    receipt_due_ms: int | None
    receipt_confirmed_ms: int | None
    finished_ms: int | None


def _record(r: AuditEntryRow) -> AuditRecord:
    return AuditRecord(
        r.seq, r.at_ms, r.kind, r.actor, r.subject_ref, r.details, r.prev_hash, r.hash
    )


def _request(r: ErasureRequestRow) -> RequestRow:
    return RequestRow(
        id=r.id,
        state=r.state,
        jurisdiction=r.jurisdiction,
        subject_ref=r.subject_ref,
        subject=r.subject_matrix_id or r.subject_rc_username or r.subject_rc_id,
        pseudonym=r.pseudonym,
        requester_side=r.requester_side,
        received_ms=r.received_ms,
        due_ms=r.extended_due_ms or r.due_ms,
        receipt_due_ms=r.receipt_due_ms,
        receipt_confirmed_ms=r.receipt_confirmed_ms,
        finished_ms=r.finished_ms,
    )


class AuditStore:
    """``UnitOfWork.audit``: the chain's rows, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_head(self) -> tuple[int, str]:
        """Take the chain's write lock and return (last seq, last hash).

        The no-op UPDATE comes first on purpose: on SQLite it takes the database write
        lock before the head is read (a read first could be a stale snapshot); on
        PostgreSQL it row-locks the head until commit, and the SELECT after it then sees
        the head as the previous appender committed it.
        """
        await self._session.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(seq=AuditHeadRow.seq)
        )
        row = (
            await self._session.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ID)
            )
        ).one()
        return int(row.seq), str(row.hash)

    async def insert(self, record: AuditRecord) -> None:
        self._session.add(
            AuditEntryRow(
                seq=record.seq,
                at_ms=record.at_ms,
                kind=record.kind,
                actor=record.actor,
                subject_ref=record.subject_ref,
                details=record.details,
                prev_hash=record.prev_hash,
                hash=record.hash,
            )
        )
        await self._session.flush()

    async def set_head(self, seq: int, hash_hex: str) -> None:
        await self._session.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(seq=seq, hash=hash_hex)
        )

    async def head(self) -> tuple[int, str]:
        row = (
            await self._session.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ID)
            )
        ).one()
        return int(row.seq), str(row.hash)

    async def entries_after(self, after_seq: int, limit: int) -> list[AuditRecord]:
        """Entries in chain order, for verification (keyset paged on the primary key)."""
        rows = await self._session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.seq > after_seq)
            .order_by(AuditEntryRow.seq)
            .limit(limit)
        )
        return [_record(r) for r in rows]

    async def newest(
        self,
        *,
        before_seq: int | None = None,
        limit: int = 50,
        kind: str | None = None,
        subject_ref: int | None = None,
    ) -> list[AuditRecord]:
        """Newest first, for the dashboard; filters use the (kind|subject, seq) indexes."""
        q = select(AuditEntryRow)
        if before_seq is not None:
            q = q.where(AuditEntryRow.seq < before_seq)
        if kind is not None:
            q = q.where(AuditEntryRow.kind == kind)
        if subject_ref is not None:
            q = q.where(AuditEntryRow.subject_ref == subject_ref)
        rows = await self._session.scalars(q.order_by(AuditEntryRow.seq.desc()).limit(limit))
        return [_record(r) for r in rows]


class OversightReads:
    """Read-only aggregates over the request log, the ledger and the queues."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def requests(
        self, states: Sequence[str] | None = None, *, limit: int = 200
    ) -> list[RequestRow]:
        q = select(ErasureRequestRow)
        if states is not None:
            q = q.where(ErasureRequestRow.state.in_(states))
        q = q.order_by(ErasureRequestRow.received_ms.desc()).limit(limit)
        return [_request(r) for r in await self._session.scalars(q)]

    async def request_row(self, request_id: str) -> RequestRow | None:
        row = await self._session.get(ErasureRequestRow, request_id)
        return None if row is None else _request(row)

    async def count_requests(self) -> int:
        return int(
            await self._session.scalar(select(func.count()).select_from(ErasureRequestRow)) or 0
        )

    async def requests_after(self, after: tuple[int, str] | None, limit: int) -> list[RequestRow]:
        """The whole request log in (received, id) order, keyset paged (for exports)."""
        q = select(ErasureRequestRow)
        if after is not None:
            q = q.where(
                tuple_(ErasureRequestRow.received_ms, ErasureRequestRow.id) > tuple_(*after)
            )
        q = q.order_by(ErasureRequestRow.received_ms, ErasureRequestRow.id).limit(limit)
        return [_request(r) for r in await self._session.scalars(q)]

    async def first_disclosure_ms(self) -> int | None:
        """When the first flow still on record went: the oldest disclosure, or the start
        of the oldest day whose counts pruning kept."""
        value = await self._session.scalar(select(func.min(Disclosure.sent_ms)))
        day = await first_day(self._session)
        found = [v for v in (value, None if day is None else day * DAY_MS) if v is not None]
        return int(min(found)) if found else None

    async def requests_of_subject(self, subject_ref: int) -> list[RequestRow]:
        rows = await self._session.scalars(
            select(ErasureRequestRow)
            .where(ErasureRequestRow.subject_ref == subject_ref)
            .order_by(ErasureRequestRow.received_ms.desc())
        )
        return [_request(r) for r in rows]

    async def request_states(self) -> dict[str, int]:
        rows = await self._session.execute(
            select(ErasureRequestRow.state, func.count()).group_by(ErasureRequestRow.state)
        )
        return {state: int(n) for state, n in rows}

    async def recipient_statuses(self) -> dict[str, int]:
        """Per-recipient outcome rows by status word (the words are a small fixed set)."""
        rows = await self._session.execute(
            select(ErasureRecipientRow.status, func.count()).group_by(ErasureRecipientRow.status)
        )
        return {status: int(n) for status, n in rows}

    async def bridged_messages(self) -> dict[str, int]:
        """Bridged messages by the side they were written on ("rc" or "matrix")."""
        rows = await self._session.execute(
            select(MessageRow.origin, func.count()).group_by(MessageRow.origin)
        )
        return {origin: int(n) for origin, n in rows}

    async def disclosures_by_server(self, rc_origin: int) -> list[tuple[str, int, int]]:
        """(recipient, kind, items) over the whole ledger: one grouped range join per
        recipient type, index-only on ``(room_ref, sent_ms)``."""
        homeservers = (
            select(LedgerServer.name, LedgerServer.kind, func.count())
            .select_from(LedgerReach)
            .join(Disclosure, _IN_REACH)
            .join(LedgerServer, LedgerServer.id == LedgerReach.server_ref)
            .group_by(LedgerServer.name, LedgerServer.kind)
        )
        rocketchat = (
            select(LedgerServer.name, LedgerServer.kind, func.count())
            .select_from(Disclosure)
            .join(LedgerRoom, LedgerRoom.id == Disclosure.room_ref)
            .join(LedgerServer, LedgerServer.id == LedgerRoom.rc_server_ref)
            .where(Disclosure.origin == rc_origin)
            .group_by(LedgerServer.name, LedgerServer.kind)
        )
        out: list[tuple[str, int, int]] = []
        for q in (homeservers, rocketchat):
            out.extend(
                (name, int(kind), int(n)) for name, kind, n in await self._session.execute(q)
            )
        return out

    async def servers(self) -> list[tuple[str, int]]:
        rows = await self._session.execute(
            select(LedgerServer.name, LedgerServer.kind).order_by(LedgerServer.name)
        )
        return [(name, int(kind)) for name, kind in rows]

    async def oldest_due_action_ms(self, now_ms: int) -> int | None:
        """Creation time of the oldest pending action already due: how far behind the
        outbox worker is (actions waiting out a backoff do not count)."""
        value = await self._session.scalar(
            select(func.min(OutboxAction.created_ms)).where(
                OutboxAction.status == PENDING, OutboxAction.next_attempt_ms <= now_ms
            )
        )
        return None if value is None else int(value)


class OversightReader:
    """Read sessions for :class:`OversightReads` (built from ``Database.sessions``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[OversightReads]:
        async with self._sessions() as session:
            yield OversightReads(session)
