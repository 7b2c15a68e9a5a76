"""Incident responses' reads and writes inside the caller's transaction (``uow.incidents``).
Plain values in and out; meaning lives in ``bridge.privacy.incident_view``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.incidents_rows import IncidentRow, IncidentStepRow
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import storage_key


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    server: str
    since_ms: int | None
    opened_ms: int
    actor: str
    dry_run: bool
    deny_asked: bool
    deny_version: int | None
    subjects: int
    items: int
    ledger_mark: int
    contacts_source: str | None
    report: str  # JSON


@dataclass(frozen=True)
class IncidentStep:
    key: str
    step: str
    channel: str
    room_id: str | None
    # The outbox row's state; None when the row is gone (pruned, which only done rows are).
    status: str | None
    attempts: int
    last_error: str | None
    dead_cause: str | None


def _record(row: IncidentRow) -> IncidentRecord:
    return IncidentRecord(
        row.id,
        row.server,
        row.since_ms,
        row.opened_ms,
        row.actor,
        row.dry_run,
        row.deny_asked,
        row.deny_version,
        row.subjects,
        row.items,
        row.ledger_mark,
        row.contacts_source,
        row.report,
    )


class IncidentStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: IncidentRecord) -> None:
        self._session.add(IncidentRow(**asdict(record)))
        await self._session.flush()

    async def add_step(
        self, incident_id: str, key: str, step: str, channel: str, room_id: str | None = None
    ) -> None:
        row = IncidentStepRow(
            key=storage_key(key), incident_id=incident_id, step=step, channel=channel,
            room_id=room_id,
        )  # fmt: skip
        await self._session.merge(row)

    async def set_deny_version(self, incident_id: str, version: int) -> None:
        await self._session.execute(
            update(IncidentRow).where(IncidentRow.id == incident_id).values(deny_version=version)
        )

    async def get(self, incident_id: str) -> IncidentRecord | None:
        row = await self._session.get(IncidentRow, incident_id)
        return None if row is None else _record(row)

    async def recent(self, limit: int) -> list[IncidentRecord]:
        rows = await self._session.scalars(
            select(IncidentRow).order_by(IncidentRow.opened_ms.desc(), IncidentRow.id).limit(limit)
        )
        return [_record(r) for r in rows]

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(IncidentRow)) or 0)

    async def steps(self, incident_id: str) -> list[IncidentStep]:
        """The incident's steps with their outbox rows' state (outer join: a pruned row
        leaves the step)."""
        rows = await self._session.execute(
            select(
                IncidentStepRow.key,
                IncidentStepRow.step,
                IncidentStepRow.channel,
                IncidentStepRow.room_id,
                OutboxAction.status,
                OutboxAction.attempts,
                OutboxAction.last_error,
                OutboxAction.dead_cause,
            )
            .outerjoin(OutboxAction, OutboxAction.key == IncidentStepRow.key)
            .where(IncidentStepRow.incident_id == incident_id)
            .order_by(IncidentStepRow.step, IncidentStepRow.channel, IncidentStepRow.key)
        )
        return [
            IncidentStep(key, step, channel, room, status, int(attempts or 0), error, cause)
            for key, step, channel, room, status, attempts, error, cause in rows
        ]
