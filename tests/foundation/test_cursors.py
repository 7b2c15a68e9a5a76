"""The stored Rocket.Chat cursors: created on first use, moved forward only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.storage.cursors import DatabaseCursorStore
from bridge.storage.database import Database


async def test_a_cursor_is_created_then_only_moves_forward(db: Database) -> None:
    cursors = DatabaseCursorStore(db.sessions, "rc")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert await cursors.get("GENERAL") is None
    await cursors.set("GENERAL", start)
    assert await cursors.get("GENERAL") == start
    await cursors.set("GENERAL", start - timedelta(seconds=1))  # an older delivery
    assert await cursors.get("GENERAL") == start
    await cursors.set("GENERAL", start + timedelta(milliseconds=1))
    assert await cursors.get("GENERAL") == start + timedelta(milliseconds=1)
    assert await cursors.get("other-room") is None
