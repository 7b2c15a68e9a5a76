"""Where the connector remembers the last Rocket.Chat time it saw, per room.

The bridging core persists cursors in its own database (docs/architecture.md); the connector only
depends on this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from bridge.ids import RCRoomID


class CursorStore(Protocol):
    """Per-room "last server timestamp seen" (``_updatedAt`` / ``_deletedAt``)."""

    async def get(self, room_id: RCRoomID) -> datetime | None: ...

    async def set(self, room_id: RCRoomID, value: datetime) -> None: ...

    async def set_many(self, values: Mapping[RCRoomID, datetime]) -> None:
        """Several rooms' ``set`` at once (one write for the dropped echoes of a second)."""


class InMemoryCursorStore:
    """A :class:`CursorStore` for tests and the demo; never moves a cursor backwards."""

    def __init__(self) -> None:
        self.cursors: dict[RCRoomID, datetime] = {}

    async def get(self, room_id: RCRoomID) -> datetime | None:
        return self.cursors.get(room_id)

    async def set(self, room_id: RCRoomID, value: datetime) -> None:
        current = self.cursors.get(room_id)
        if current is None or value > current:
            self.cursors[room_id] = value

    async def set_many(self, values: Mapping[RCRoomID, datetime]) -> None:
        for room_id, value in values.items():
            await self.set(room_id, value)
