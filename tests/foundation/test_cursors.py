"""The stored Rocket.Chat cursors: created on first use, moved forward only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.storage.cursors import DatabaseCursorStore
from bridge.storage.database import Database
from tests.foundation.test_write_buffer import statements


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


async def test_several_cursors_move_in_one_statement_each_forward_only(db: Database) -> None:
    """The dropped echoes of an interval move every room's cursor with one write."""
    cursors = DatabaseCursorStore(db.sessions, "rc")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    await cursors.set("A", start)
    with statements(db) as seen:
        await cursors.set_many({"A": start - timedelta(seconds=1), "B": start, "C": start})
    assert len([s for s in seen if s.startswith("INSERT INTO cursor")]) == 1, seen
    assert await cursors.get("A") == start  # not moved back
    assert await cursors.get("B") == start and await cursors.get("C") == start
    await cursors.set_many({"A": start + timedelta(seconds=2), "B": start + timedelta(seconds=1)})
    assert await cursors.get("A") == start + timedelta(seconds=2)
    assert await cursors.get("B") == start + timedelta(seconds=1)
    await cursors.set_many({})  # nothing owed: nothing written
