"""Reads and writes of ``room_retention`` inside the caller's transaction
(``uow.room_policies``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.policy_rows import RoomRetentionRow


@dataclass(frozen=True)
class RoomPolicyRecord:
    room_id: str
    rc_room_id: str
    name: str | None
    max_age_ms: int | None
    files_only: bool
    source: str | None
    read_ms: int


class RoomPolicyStore:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def put(self, record: RoomPolicyRecord) -> None:
        row = await self._s.get(RoomRetentionRow, record.room_id)
        if row is None:
            row = RoomRetentionRow(room_id=record.room_id)
            self._s.add(row)
        row.rc_room_id, row.name = record.rc_room_id, record.name
        row.max_age_ms, row.files_only = record.max_age_ms, record.files_only
        row.source, row.read_ms = record.source, record.read_ms
        await self._s.flush()

    async def all(self) -> list[RoomPolicyRecord]:
        rows = await self._s.scalars(select(RoomRetentionRow).order_by(RoomRetentionRow.name))
        return [
            RoomPolicyRecord(
                r.room_id, r.rc_room_id, r.name, r.max_age_ms, r.files_only, r.source, r.read_ms
            )
            for r in rows
        ]
