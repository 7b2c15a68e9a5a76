"""Durable resume points (e.g. the last Rocket.Chat time seen per room)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge.storage.common import insert_ignoring_conflicts, now_ms
from bridge.storage.models import Cursor


def _text(value: datetime) -> str:
    # One fixed format in UTC, so that comparing the strings compares the times.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


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
        name, text = f"{self._prefix}:{room_id}", _text(value)
        # Realtime delivery and catch-up may set the same cursor at once: insert-or-ignore,
        # then move forward only, both atomic in the database.
        async with self._sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflicts(session, Cursor.__table__).values(
                    name=name, value=text, updated_ms=now_ms()
                )
            )
            await session.execute(
                update(Cursor)
                .where(Cursor.name == name, Cursor.value < text)
                .values(value=text, updated_ms=now_ms())
            )
