"""Durable resume points (e.g. the last Rocket.Chat time seen per room)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge.storage.common import now_ms
from bridge.storage.models import Cursor


class DatabaseCursorStore:
    """Per-room cursors in the ``cursor`` table; a cursor never moves backwards."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], prefix: str) -> None:
        self._sessions = sessions
        self._prefix = prefix

    async def get(self, room_id: str) -> datetime | None:
        async with self._sessions() as session:
            value = await session.scalar(
                select(Cursor.value).where(Cursor.name == f"{self._prefix}:{room_id}")
            )
        return None if value is None else datetime.fromisoformat(value)

    async def set(self, room_id: str, value: datetime) -> None:
        name = f"{self._prefix}:{room_id}"
        async with self._sessions.begin() as session:
            row = await session.get(Cursor, name)
            if row is None:
                session.add(Cursor(name=name, value=value.isoformat(), updated_ms=now_ms()))
            elif value > datetime.fromisoformat(row.value).astimezone(UTC):
                row.value = value.isoformat()
                row.updated_ms = now_ms()
