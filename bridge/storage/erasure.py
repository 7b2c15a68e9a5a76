"""The erasure engine's reads and writes, inside the caller's transaction (``uow.erasure``).

Plain values in and out; the state machine and the meaning of each status live in
``bridge.privacy.erasure*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from bridge.storage.bridging_rows import MessageRow
from bridge.storage.common import insert_ignoring_conflicts, now_ms, rowcount
from bridge.storage.erasure_rows import (
    ErasureItemRow,
    ErasureLogRow,
    ErasureNoticeContactRow,
    ErasureRecipientRow,
    ErasureRequestRow,
    ErasureStepRow,
)
from bridge.storage.ledger_rows import LedgerPresence, LedgerRoom, LedgerServer
from bridge.storage.models import InboxEvent, OutboxAction

JOINED = 2  # ledger_presence.state of "at least one user joined"
NOTICE_ROOM = ""  # erasure_recipient.room_id of a server-level (notice) row
# The id prefix of a retention expiry: a request about a room's old items, not a person.
EXPIRY_PREFIX = "ex-"


@dataclass(frozen=True)
class RequestRecord:
    id: str
    subject_ref: int
    subject_origin: int
    subject_matrix_id: str | None
    subject_rc_id: str | None
    subject_rc_username: str | None
    pseudonym: str | None
    requester: str
    requester_side: str
    jurisdiction: str
    scope_room: str | None
    scope_before_ms: int | None
    state: str
    received_ms: int
    due_ms: int
    receipt_due_ms: int | None
    receipt_confirmed_ms: int | None
    extended_due_ms: int | None
    extension_reason: str | None
    finished_ms: int | None
    plan_cursor: str | None
    note: str | None


@dataclass(frozen=True)
class LogRecord:
    at_ms: int
    event: str
    actor: str | None
    detail: str | None


@dataclass(frozen=True)
class ItemRecord:
    id: int
    request_id: str
    disclosure_id: int
    room_id: str
    portal_id: int | None
    rc_room_id: str | None
    event_id: str | None
    rc_message_id: str | None
    origin: int
    categories: int
    sent_ms: int
    redactor: str | None
    matrix_status: str
    rc_status: str
    redaction_id: str | None
    recipients: str  # space-separated server names


@dataclass(frozen=True)
class RecipientRecord:
    recipient: str
    room_id: str
    kind: int
    reach: str
    items: int
    status: str
    detail: str | None
    updated_ms: int


@dataclass(frozen=True)
class StepRecord:
    step: str
    status: str
    detail: str | None
    data: str | None


@dataclass(frozen=True)
class NoticeContact:
    server: str
    contact: str
    room_id: str


@dataclass(frozen=True)
class JoinedInterval:
    room_id: str
    server: str
    kind: int
    from_ms: int
    to_ms: int | None


_REQUEST_FIELDS = tuple(RequestRecord.__dataclass_fields__)
_ITEM_FIELDS = tuple(ItemRecord.__dataclass_fields__)


def _request(r: ErasureRequestRow) -> RequestRecord:
    return RequestRecord(**{f: getattr(r, f) for f in _REQUEST_FIELDS})


def _item(r: ErasureItemRow) -> ItemRecord:
    return ItemRecord(**{f: getattr(r, f) for f in _ITEM_FIELDS})


@dataclass(frozen=True)
class NewItem:
    """One disclosure an erasure plan adds to a request, with what each side needs."""

    request_id: str
    disclosure_id: int
    room_id: str
    portal_id: int | None
    rc_room_id: str | None
    event_id: str | None
    rc_message_id: str | None
    origin: int
    categories: int
    sent_ms: int
    redactor: str | None
    matrix_status: str
    rc_status: str
    recipients: str  # the item's recipient servers, space-separated


def _open(
    column: InstrumentedAttribute[str], closed: Sequence[str], settled_failures: bool
) -> list[ColumnElement[bool]]:
    """An item's status on one side is open: not one of ``closed`` and, with
    ``settled_failures``, not a failure that is no longer retried ("failed:<reason>")."""
    clauses: list[ColumnElement[bool]] = [column.not_in(list(closed))]
    if settled_failures:
        clauses.append(~column.startswith("failed:"))
    return clauses


class ErasureStore:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    # -- requests and their log ----------------------------------------------------------

    async def add_request(self, **values: Any) -> None:
        self._s.add(ErasureRequestRow(updated_ms=now_ms(), **values))
        await self._s.flush()

    async def request(self, request_id: str, *, lock: bool = False) -> RequestRecord | None:
        stmt = select(ErasureRequestRow).where(ErasureRequestRow.id == request_id)
        if lock:
            stmt = stmt.with_for_update()
        row = await self._s.scalar(stmt)
        return None if row is None else _request(row)

    async def update_request(
        self, request_id: str, *, from_states: Iterable[str] | None = None, **values: Any
    ) -> bool:
        """Conditional update: False when the request is not in one of ``from_states``
        (another worker moved it first)."""
        stmt = update(ErasureRequestRow).where(ErasureRequestRow.id == request_id)
        if from_states is not None:
            stmt = stmt.where(ErasureRequestRow.state.in_(list(from_states)))
        result = await self._s.execute(stmt.values(updated_ms=now_ms(), **values))
        return rowcount(result) > 0

    async def requests_in(self, states: Sequence[str], limit: int = 100) -> list[RequestRecord]:
        rows = await self._s.scalars(
            select(ErasureRequestRow)
            .where(ErasureRequestRow.state.in_(list(states)))
            .order_by(ErasureRequestRow.received_ms)
            .limit(limit)
        )
        return [_request(r) for r in rows]

    async def open_past_due(self, now: int, open_states: Sequence[str]) -> list[RequestRecord]:
        due = func.coalesce(ErasureRequestRow.extended_due_ms, ErasureRequestRow.due_ms)
        rows = await self._s.scalars(
            select(ErasureRequestRow)
            .where(ErasureRequestRow.state.in_(list(open_states)), due < now)
            .order_by(due)
        )
        return [_request(r) for r in rows]

    async def unconfirmed_receipts(self, now: int, open_states: Sequence[str]) -> list[str]:
        rows = await self._s.scalars(
            select(ErasureRequestRow.id).where(
                ErasureRequestRow.state.in_(list(open_states)),
                ErasureRequestRow.receipt_due_ms < now,
                ErasureRequestRow.receipt_confirmed_ms.is_(None),
            )
        )
        return list(rows)

    async def log(
        self, request_id: str, event: str, actor: str | None = None, detail: str | None = None
    ) -> None:
        self._s.add(
            ErasureLogRow(
                request_id=request_id, at_ms=now_ms(), event=event, actor=actor, detail=detail
            )
        )
        await self._s.flush()

    async def log_entries(self, request_id: str) -> list[LogRecord]:
        rows = await self._s.scalars(
            select(ErasureLogRow)
            .where(ErasureLogRow.request_id == request_id)
            .order_by(ErasureLogRow.id)
        )
        return [LogRecord(r.at_ms, r.event, r.actor, r.detail) for r in rows]

    async def expiry_bounds(self, room_id: str, before_ms: int | None = None) -> int | None:
        """The latest cut-off of a retention expiry of ``room_id`` (earlier than
        ``before_ms`` when given): what was sent before it is already expired."""
        stmt = select(func.max(ErasureRequestRow.scope_before_ms)).where(
            ErasureRequestRow.id.startswith(EXPIRY_PREFIX),
            ErasureRequestRow.scope_room == room_id,
        )
        if before_ms is not None:
            stmt = stmt.where(ErasureRequestRow.scope_before_ms < before_ms)
        return await self._s.scalar(stmt)

    async def latest_expiry(self, room_id: str) -> RequestRecord | None:
        row = await self._s.scalar(
            select(ErasureRequestRow)
            .where(
                ErasureRequestRow.id.startswith(EXPIRY_PREFIX),
                ErasureRequestRow.scope_room == room_id,
            )
            .order_by(ErasureRequestRow.scope_before_ms.desc())
            .limit(1)
        )
        return None if row is None else _request(row)

    async def prune_finished_before(self, cutoff_ms: int) -> int:
        """Retention: drop finished requests (and everything about them) before cutoff."""
        ids = list(
            await self._s.scalars(
                select(ErasureRequestRow.id).where(
                    ErasureRequestRow.finished_ms.is_not(None),
                    ErasureRequestRow.finished_ms < cutoff_ms,
                )
            )
        )
        if not ids:
            return 0
        for table in (
            ErasureLogRow,
            ErasureItemRow,
            ErasureRecipientRow,
            ErasureStepRow,
            ErasureNoticeContactRow,
        ):
            await self._s.execute(delete(table).where(table.request_id.in_(ids)))
        await self._s.execute(delete(ErasureRequestRow).where(ErasureRequestRow.id.in_(ids)))
        return len(ids)

    # -- items ---------------------------------------------------------------------------

    async def add_items(self, items: Sequence[NewItem]) -> None:
        if not items:
            return
        now = now_ms()
        stmt = insert_ignoring_conflicts(self._s, ErasureItemRow.__table__)
        await self._s.execute(stmt, [{**asdict(i), "updated_ms": now} for i in items])

    async def items(
        self,
        request_id: str,
        *,
        ids: Sequence[int] | None = None,
        room_id: str | None = None,
        rc_message_id: str | None = None,
    ) -> list[ItemRecord]:
        stmt = select(ErasureItemRow).where(ErasureItemRow.request_id == request_id)
        if ids is not None:
            stmt = stmt.where(ErasureItemRow.id.in_(list(ids)))
        if room_id is not None:
            stmt = stmt.where(ErasureItemRow.room_id == room_id)
        if rc_message_id is not None:
            stmt = stmt.where(ErasureItemRow.rc_message_id == rc_message_id)
        rows = await self._s.scalars(stmt.order_by(ErasureItemRow.id))
        return [_item(r) for r in rows]

    async def item_by_disclosure(self, request_id: str, disclosure_id: int) -> ItemRecord | None:
        row = await self._s.scalar(
            select(ErasureItemRow).where(
                ErasureItemRow.request_id == request_id,
                ErasureItemRow.disclosure_id == disclosure_id,
            )
        )
        return None if row is None else _item(row)

    async def set_items(self, item_ids: Sequence[int], **values: Any) -> None:
        if item_ids:
            await self._s.execute(
                update(ErasureItemRow)
                .where(ErasureItemRow.id.in_(list(item_ids)))
                .values(updated_ms=now_ms(), **values)
            )

    async def set_rc_status(
        self, request_id: str, rc_message_ids: Sequence[str], status: str
    ) -> None:
        await self._s.execute(
            update(ErasureItemRow)
            .where(
                ErasureItemRow.request_id == request_id,
                ErasureItemRow.rc_message_id.in_(list(rc_message_ids)),
            )
            .values(rc_status=status, updated_ms=now_ms())
        )

    async def status_counts(self, request_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"matrix": {}, "rc": {}}
        for side, column in (
            ("matrix", ErasureItemRow.matrix_status),
            ("rc", ErasureItemRow.rc_status),
        ):
            rows = await self._s.execute(
                select(column, func.count())
                .where(ErasureItemRow.request_id == request_id)
                .group_by(column)
            )
            out[side] = {str(s): int(n) for s, n in rows}
        return out

    async def count_items(
        self, request_id: str, *, room_id: str | None = None, matrix_in: Sequence[str] = ()
    ) -> int:
        stmt = select(func.count()).where(ErasureItemRow.request_id == request_id)
        if room_id is not None:
            stmt = stmt.where(ErasureItemRow.room_id == room_id)
        if matrix_in:
            stmt = stmt.where(ErasureItemRow.matrix_status.in_(list(matrix_in)))
        return int(await self._s.scalar(stmt) or 0)

    async def count_open(
        self,
        request_id: str,
        side: str,
        closed: Sequence[str],
        *,
        room_id: str | None = None,
        rc_room_id: str | None = None,
        settled_failures: bool = False,
    ) -> int:
        """Items whose ``side`` ("matrix" or "rc") status is not one of ``closed``.

        ``settled_failures``: a failure that is no longer retried (stored as
        "failed:<reason>", its action a dead letter; bridge.privacy.report) counts as
        closed too, for steps that wait for the others to settle rather than to succeed.
        """
        column = ErasureItemRow.matrix_status if side == "matrix" else ErasureItemRow.rc_status
        stmt = select(func.count()).where(
            ErasureItemRow.request_id == request_id, *_open(column, closed, settled_failures)
        )
        if room_id is not None:
            stmt = stmt.where(ErasureItemRow.room_id == room_id)
        if rc_room_id is not None:
            stmt = stmt.where(ErasureItemRow.rc_room_id == rc_room_id)
        return int(await self._s.scalar(stmt) or 0)

    async def open_rooms(
        self, request_id: str, closed: Sequence[str], rooms: Sequence[str]
    ) -> set[str]:
        """Which of ``rooms`` hold a Matrix copy not yet settled: its status is not one of
        ``closed`` nor a failure no longer retried (as :meth:`count_open` with
        ``settled_failures``), in one query for all of them."""
        if not rooms:
            return set()
        stmt = (
            select(ErasureItemRow.room_id)
            .where(
                ErasureItemRow.request_id == request_id,
                ErasureItemRow.room_id.in_(list(rooms)),
                *_open(ErasureItemRow.matrix_status, closed, settled_failures=True),
            )
            .distinct()
        )
        return set(await self._s.scalars(stmt))

    async def set_rc_room_status(
        self, request_id: str, rc_room_id: str, status: str, closed: Sequence[str]
    ) -> list[str]:
        """Set the Rocket.Chat status of a room's open items; returns their Matrix rooms."""
        where = (
            ErasureItemRow.request_id == request_id,
            ErasureItemRow.rc_room_id == rc_room_id,
            ErasureItemRow.rc_status.not_in(list(closed)),
        )
        rooms = set(await self._s.scalars(select(ErasureItemRow.room_id).where(*where)))
        await self._s.execute(
            update(ErasureItemRow).where(*where).values(rc_status=status, updated_ms=now_ms())
        )
        return sorted(rooms)

    # -- recipients ----------------------------------------------------------------------

    async def add_recipient(
        self, request_id: str, recipient: str, room_id: str, kind: int, reach: str, status: str
    ) -> None:
        await self._s.execute(
            insert_ignoring_conflicts(self._s, ErasureRecipientRow.__table__).values(
                request_id=request_id,
                recipient=recipient,
                room_id=room_id,
                kind=kind,
                reach=reach,
                items=0,
                status=status,
                updated_ms=now_ms(),
            )
        )

    async def count_recipient_items(
        self, request_id: str, recipient: str, room_id: str, n: int
    ) -> None:
        row = ErasureRecipientRow
        await self._s.execute(
            update(row)
            .where(row.request_id == request_id, row.recipient == recipient, row.room_id == room_id)
            .values(items=row.items + n)
        )

    async def set_recipient(
        self,
        request_id: str,
        recipient: str | None,
        room_id: str | None,
        status: str,
        detail: str | None = None,
        *,
        unless: Sequence[str] = (),
        reach: str | None = None,
    ) -> int:
        """Set the status of matching rows (None matches any), except rows whose status is
        in ``unless`` (e.g. never move "delivered" back to "redaction sent")."""
        row = ErasureRecipientRow
        stmt = update(row).where(row.request_id == request_id)
        if recipient is not None:
            stmt = stmt.where(row.recipient == recipient)
        if room_id is not None:
            stmt = stmt.where(row.room_id == room_id)
        if reach is not None:
            stmt = stmt.where(row.reach == reach)
        if unless:
            stmt = stmt.where(row.status.not_in(list(unless)))
        result = await self._s.execute(
            stmt.values(status=status, detail=detail, updated_ms=now_ms())
        )
        return rowcount(result)

    async def add_notice_contacts(
        self, request_id: str, server: str, rooms: dict[str, str]
    ) -> None:
        """Record the DM room each contact of ``server`` was sent the notice in."""
        if not rooms:
            return
        now = now_ms()
        await self._s.execute(
            insert_ignoring_conflicts(self._s, ErasureNoticeContactRow.__table__),
            [
                {
                    "request_id": request_id,
                    "server": server,
                    "contact": contact,
                    "room_id": room,
                    "sent_ms": now,
                }
                for contact, room in sorted(rooms.items())
            ],
        )

    async def notice_contacts(self, request_id: str, contact: str) -> list[NoticeContact]:
        row = ErasureNoticeContactRow
        rows = await self._s.scalars(
            select(row).where(row.request_id == request_id, row.contact == contact)
        )
        return [NoticeContact(r.server, r.contact, r.room_id) for r in rows]

    async def recipients(self, request_id: str) -> list[RecipientRecord]:
        rows = await self._s.scalars(
            select(ErasureRecipientRow)
            .where(ErasureRecipientRow.request_id == request_id)
            .order_by(ErasureRecipientRow.recipient, ErasureRecipientRow.room_id)
        )
        return [
            RecipientRecord(
                r.recipient, r.room_id, r.kind, r.reach, r.items, r.status, r.detail, r.updated_ms
            )
            for r in rows
        ]

    # -- steps ---------------------------------------------------------------------------

    async def set_step(
        self, request_id: str, step: str, status: str, detail: str | None = None, **kw: Any
    ) -> None:
        row = await self._s.get(ErasureStepRow, (request_id, step))
        if row is None:
            row = ErasureStepRow(request_id=request_id, step=step)
            self._s.add(row)
        row.status, row.detail, row.updated_ms = status, detail, now_ms()
        if "data" in kw:
            row.data = kw["data"]
        await self._s.flush()

    async def steps(self, request_id: str) -> list[StepRecord]:
        rows = await self._s.scalars(
            select(ErasureStepRow)
            .where(ErasureStepRow.request_id == request_id)
            .order_by(ErasureStepRow.step)
        )
        return [StepRecord(r.step, r.status, r.detail, r.data) for r in rows]

    # -- ledger timelines the planner needs ----------------------------------------------

    async def joined_intervals(self, room_ids: Sequence[str]) -> list[JoinedInterval]:
        """Each server's joined intervals in these rooms (from the ledger's timelines)."""
        if not room_ids:
            return []
        rows = await self._s.execute(
            select(
                LedgerRoom.room_id,
                LedgerServer.name,
                LedgerServer.kind,
                LedgerPresence.from_ms,
                LedgerPresence.to_ms,
            )
            .join(LedgerRoom, LedgerRoom.id == LedgerPresence.room_ref)
            .join(LedgerServer, LedgerServer.id == LedgerPresence.server_ref)
            .where(LedgerRoom.room_id.in_(list(room_ids)), LedgerPresence.state == JOINED)
        )
        return [JoinedInterval(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in rows]

    # -- the bridge's own copies ---------------------------------------------------------

    async def mark_map_deleted(self, rc_message_ids: Sequence[str]) -> None:
        """The relay skips deleted parts, so it never echoes the erasure's own deletions."""
        for start in range(0, len(rc_message_ids), 500):
            await self._s.execute(
                update(MessageRow)
                .where(MessageRow.rc_message_id.in_(list(rc_message_ids[start : start + 500])))
                .values(deleted=True)
            )

    async def action_counts(self, key_prefix: str) -> dict[str, int]:
        """Outbox actions by status whose key starts with ``key_prefix``."""
        rows = await self._s.execute(
            select(OutboxAction.status, func.count())
            .where(OutboxAction.key.startswith(key_prefix, autoescape=True))
            .group_by(OutboxAction.status)
        )
        return {str(s): int(n) for s, n in rows}

    async def scrub_message_map(self, rc_message_ids: Sequence[str]) -> int:
        """Keep the id pairs (evidence of what was erased), drop who sent them."""
        result = await self._s.execute(
            update(MessageRow)
            .where(MessageRow.rc_message_id.in_(list(rc_message_ids)))
            .values(sender="erased", deleted=True)
        )
        return rowcount(result)

    async def scrub_queues(self, needles: Sequence[str]) -> int:
        """Blank the stored payloads of *finished* inbox events and outbox actions that
        name the subject: they hold message bodies and names (docs/architecture.md keeps them
        for durability only, and an erased person's data must not outlive the erasure)."""
        needles = [n for n in needles if n]
        if not needles:
            return 0
        total = 0
        for table, finished in (
            (InboxEvent, InboxEvent.status != "pending"),
            (OutboxAction, OutboxAction.status != "pending"),
        ):
            match = or_(*(table.payload.contains(n, autoescape=True) for n in needles))
            result = await self._s.execute(
                update(table).where(and_(finished, match)).values(payload="{}")
            )
            total += rowcount(result)
        return total
