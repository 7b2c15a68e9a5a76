"""Durable resume points (e.g. the last Rocket.Chat time seen per room)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge.storage.common import now_ms
from bridge.storage.models import Cursor

K = TypeVar("K", bound=str)  # a room id of either side


def _text(value: datetime) -> str:
    # One fixed format in UTC, so that comparing the strings compares the times.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class DatabaseCursorStore:
    """Per-room cursors in the ``cursor`` table; a cursor never moves backwards.

    A cursor is named by a hash of its room id: Rocket.Chat names a DM by its members'
    user ids put together (Rocket.Chat apps/meteor/app/lib/server/functions/
    createDirectRoom.ts), and the bridge follows its DMs, so a raw name would keep a
    person's id. A cursor an older version named by the room id is still read (the later
    of the two counts); an erasure deletes those of the person's DMs.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], prefix: str) -> None:
        self._sessions = sessions
        self._prefix = prefix

    def _name(self, room_id: str) -> str:
        return f"{self._prefix}:#{hashlib.sha256(room_id.encode()).hexdigest()[:32]}"

    async def get(self, room_id: str) -> datetime | None:
        legacy = f"{self._prefix}:{room_id}"
        async with self._sessions() as session:
            value = await session.scalar(
                select(func.max(Cursor.value)).where(Cursor.name.in_([self._name(room_id), legacy]))
            )
        return None if value is None else datetime.fromisoformat(value)

    async def set(self, room_id: str, value: datetime) -> None:
        await self.set_many({room_id: value})

    async def set_many(self, values: Mapping[K, datetime]) -> None:
        """Move several rooms' cursors forward in one statement."""
        if not values:
            return
        now = now_ms()
        rows = [
            {"name": self._name(room_id), "value": _text(value), "updated_ms": now}
            for room_id, value in values.items()
        ]
        # Realtime delivery and catch-up may set the same cursor at once: one upsert that
        # moves each forward only, atomic in the database.
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            new = insert(Cursor).values(rows)
            await session.execute(
                new.on_conflict_do_update(
                    index_elements=[Cursor.name],
                    set_={"value": new.excluded.value, "updated_ms": new.excluded.updated_ms},
                    where=Cursor.value < new.excluded.value,
                )
            )
