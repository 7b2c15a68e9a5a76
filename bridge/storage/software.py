"""Reads and writes of ``server_software`` inside the caller's transaction
(``uow.servers``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.ledger_rows import LedgerServer
from bridge.storage.software_rows import ServerSoftwareRow

REMOTE_HOMESERVER = 0  # ledger_server.kind of a remote homeserver (RecipientKind)


@dataclass(frozen=True)
class SoftwareRecord:
    server: str
    software: str | None
    version: str | None
    first_seen_ms: int | None
    last_seen_ms: int | None
    checked_ms: int
    error: str | None


class ServerSoftwareStore:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, servers: Sequence[str]) -> dict[str, SoftwareRecord]:
        if not servers:
            return {}
        rows = await self._s.scalars(
            select(ServerSoftwareRow).where(ServerSoftwareRow.server.in_(list(servers)))
        )
        return {r.server: _record(r) for r in rows}

    async def due(self, checked_before_ms: int, limit: int) -> list[str]:
        """Remote homeservers the ledger knows that were last asked at the cut-off or before (or
        never), oldest check first."""
        rows = await self._s.execute(
            select(LedgerServer.name)
            .outerjoin(ServerSoftwareRow, ServerSoftwareRow.server == LedgerServer.name)
            .where(
                LedgerServer.kind == REMOTE_HOMESERVER,
                (ServerSoftwareRow.checked_ms.is_(None))
                | (ServerSoftwareRow.checked_ms <= checked_before_ms),
            )
            .order_by(ServerSoftwareRow.checked_ms.is_not(None), ServerSoftwareRow.checked_ms)
            .limit(limit)
        )
        return [name for (name,) in rows]

    async def seen(self, server: str, software: str, version: str, now: int) -> None:
        row = await self._s.get(ServerSoftwareRow, server)
        if row is None:
            row = ServerSoftwareRow(server=server, first_seen_ms=now, checked_ms=now)
            self._s.add(row)
        row.software, row.version = software[:128], version[:128]
        row.first_seen_ms = row.first_seen_ms or now
        row.last_seen_ms, row.checked_ms, row.error = now, now, None
        await self._s.flush()

    async def failed(self, server: str, error: str, now: int) -> None:
        """The answer we had stays (and its time says how old it is)."""
        row = await self._s.get(ServerSoftwareRow, server)
        if row is None:
            row = ServerSoftwareRow(server=server, checked_ms=now)
            self._s.add(row)
        row.checked_ms, row.error = now, error[:500]
        await self._s.flush()


def _record(r: ServerSoftwareRow) -> SoftwareRecord:
    return SoftwareRecord(
        r.server, r.software, r.version, r.first_seen_ms, r.last_seen_ms, r.checked_ms, r.error
    )
