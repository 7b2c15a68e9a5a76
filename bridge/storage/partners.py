"""The partner register's reads and writes, inside the caller's transaction
(``uow.partners``). Plain values in and out; validation and meaning live in
``bridge.privacy.partners``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.common import rowcount
from bridge.storage.ledger_rows import LedgerMember, LedgerRoom, LedgerServer
from bridge.storage.partners_rows import STATE_ID, PartnerRegisterState, PartnerRow


@dataclass(frozen=True)
class PartnerRecord:
    server: str
    organisation: str
    contacts: str  # JSON
    lawful_basis: str
    retention_days: int | None
    jurisdiction: str | None
    third_country: bool
    safeguard: str | None
    agreement_ref: str | None
    agreement_version: str | None
    policy: str
    updated_ms: int
    version: int
    receiver: bool = False


def _record(row: PartnerRow) -> PartnerRecord:
    return PartnerRecord(
        row.server,
        row.organisation,
        row.contacts,
        row.lawful_basis,
        row.retention_days,
        row.jurisdiction,
        row.third_country,
        row.safeguard,
        row.agreement_ref,
        row.agreement_version,
        row.policy,
        row.updated_ms,
        row.version,
        row.receiver,
    )


class PartnerStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def version(self) -> int:
        value = await self._session.scalar(
            select(PartnerRegisterState.version).where(PartnerRegisterState.id == STATE_ID)
        )
        return int(value or 0)

    async def bump_version(self) -> int:
        """The next version. The update takes the row's write lock first, so two changes
        committing at once still get two versions (as the audit head does)."""
        await self._session.execute(
            update(PartnerRegisterState)
            .where(PartnerRegisterState.id == STATE_ID)
            .values(version=PartnerRegisterState.version + 1)
        )
        return await self.version()

    async def get(self, server: str) -> PartnerRecord | None:
        row = await self._session.get(PartnerRow, server)
        return None if row is None else _record(row)

    async def all(self) -> list[PartnerRecord]:
        rows = await self._session.scalars(select(PartnerRow).order_by(PartnerRow.server))
        return [_record(r) for r in rows]

    async def put(self, record: PartnerRecord) -> None:
        row = await self._session.get(PartnerRow, record.server)
        values = asdict(record)
        if row is None:
            self._session.add(PartnerRow(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        await self._session.flush()

    async def remove(self, server: str) -> bool:
        result = await self._session.execute(delete(PartnerRow).where(PartnerRow.server == server))
        return rowcount(result) > 0

    async def receivers(self) -> set[str]:
        """The servers the register says run an erasure receiver."""
        rows = await self._session.scalars(
            select(PartnerRow.server).where(PartnerRow.receiver.is_(True))
        )
        return set(rows)

    async def room_servers(self, room_id: str) -> list[str]:
        """Servers with a user invited to or joined in ``room_id`` now (the ledger's view)."""
        rows = await self._session.scalars(
            select(LedgerServer.name)
            .join(LedgerMember, LedgerMember.server_ref == LedgerServer.id)
            .join(LedgerRoom, LedgerRoom.id == LedgerMember.room_ref)
            .where(LedgerRoom.room_id == room_id)
            .distinct()
        )
        return sorted(rows)
