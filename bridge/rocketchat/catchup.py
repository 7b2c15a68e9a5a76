"""Catch-up: everything a room saw since the stored cursor, via ``chat.syncMessages``.

The answer holds the updated documents and the trash entries (``_id``, ``_deletedAt``) of
removed ones, so messages, edits, deletions and prunes made while we were away are all
found (docs/rocketchat-notes.md). Events are delivered oldest first and the cursor moves after
each delivery, so a crash re-delivers (the consumer de-duplicates) but never skips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bridge.ids import RCRoomID
from bridge.rctypes.events import (
    EventSink,
    EventSource,
    MessageDeleted,
    RCEvent,
    event_for_message,
)
from bridge.rocketchat.cursor import CursorStore
from bridge.rocketchat.errors import RCError, room_refused
from bridge.rocketchat.rest import RCRestClient

log = logging.getLogger(__name__)

# Re-read a little before the cursor: two changes can share a millisecond, and the server
# filters with ``_updatedAt > lastUpdate``.
OVERLAP = timedelta(milliseconds=5)


class CatchUp:
    def __init__(self, rest: RCRestClient, cursors: CursorStore, sink: EventSink) -> None:
        self.rest = rest
        self.cursors = cursors
        self.sink = sink

    async def ensure_cursor(self, room_id: RCRoomID, start: datetime | None = None) -> datetime:
        """A room seen for the first time starts now: history before bridging is not replayed."""
        cursor = await self.cursors.get(room_id)
        if cursor is None:
            cursor = start or datetime.now(UTC)
            await self.cursors.set(room_id, cursor)
        return cursor

    async def room(self, room_id: RCRoomID) -> int:
        """Deliver what changed in one room since its cursor; return how many events."""
        cursor = await self.ensure_cursor(room_id)
        result = await self.rest.sync_messages(room_id, cursor - OVERLAP)
        timed: list[tuple[datetime, RCEvent]] = [
            (m.updated_at, event_for_message(m, EventSource.CATCHUP)) for m in result.updated
        ]
        for message_id, deleted_at in result.deleted:
            when = deleted_at or cursor
            timed.append(
                (when, MessageDeleted(room_id, message_id, EventSource.CATCHUP, deleted_at=when))
            )
        timed.sort(key=lambda pair: pair[0])
        for when, event in timed:
            await self.sink(event)
            await self.cursors.set(room_id, when)
        if timed:
            log.info("Caught up %d change(s) in room %s", len(timed), room_id)
        return len(timed)

    async def rooms(self, room_ids: Iterable[RCRoomID]) -> int:
        """Catch up on each room. A room the server no longer lets the bridge read is
        passed over (its cursor stays); any other failure ends the round, as before."""
        total = 0
        for room_id in room_ids:
            try:
                total += await self.room(room_id)
            except RCError as e:
                if not room_refused(e):
                    raise
                log.warning("Catch-up passes over a followed room Rocket.Chat refuses: %s", e)
        return total
