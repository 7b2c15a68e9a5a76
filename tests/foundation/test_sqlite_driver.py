"""The SQLite driver that runs each statement in one trip to aiosqlite's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.storage.engine import create_engine
from bridge.storage.sqlite_driver import FusedConnection, private_database_files


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


def _count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    trips: list[str] = []
    original = FusedConnection._execute

    async def counting(self: FusedConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(FusedConnection, "_execute", counting)
    return trips


async def test_the_engine_uses_the_fused_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, FusedConnection)


async def test_a_statement_is_one_trip_to_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection's own set-up is not counted
        trips = _count_trips(monkeypatch)
        rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).all()
    assert [r[0] for r in rows] == [1, 2]
    assert trips == ["_run"]  # stock aiosqlite: cursor, execute, fetchall, close


async def test_rows_counts_and_returning_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(
            text("INSERT INTO t (name) VALUES (:n) RETURNING id, name"), {"n": "a"}
        )
        assert [tuple(r) for r in inserted] == [(1, "a")]
        await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        plain = await conn.execute(text("INSERT INTO t (name) VALUES ('d')"))
        assert plain.lastrowid == 4
    async with engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a", "b!", "c!", "d"]


async def test_rollback_discards_and_errors_are_the_drivers_own(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="UNIQUE constraint failed"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_read_only_session_ends_without_a_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        trips = _count_trips(monkeypatch)
        await conn.execute(text("SELECT count(*) FROM t"))
        await conn.rollback()
    assert trips == ["_run"]


async def test_a_second_stop_does_not_wait_for_a_finished_thread(tmp_path: Path) -> None:
    # SQLAlchemy may force-stop a connection and then close it gracefully when the task
    # using it is cancelled; the close must end, not wait for the ended thread forever.
    conn = FusedConnection(lambda: sqlite3.connect(tmp_path / "s.db"), 64)
    await conn
    first = conn.stop()
    assert first is not None
    await first
    await asyncio.wait_for(conn.close(), 5)
    assert conn.stop() is None


def test_a_new_connection_keeps_the_other_connections_locks(tmp_path: Path) -> None:
    """Another process must still see this one's commits after a new connection opened.

    Opening and closing the database file in the process dropped the POSIX locks of its
    connections; the next process to close its own connection then deleted the
    write-ahead log the bridge was still writing to.
    """
    database = str(tmp_path / "bridge.db")
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (x)")
        writer.execute("INSERT INTO t VALUES (1)")
        private_database_files(database)  # what each new connection of the bridge runs
        count = (
            "import sqlite3, sys; "
            "print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM t').fetchone()[0])"
        )
        subprocess.run([sys.executable, "-c", count, database], check=True, capture_output=True)
        assert Path(f"{database}-wal").exists()
        writer.execute("INSERT INTO t VALUES (2)")
        seen = subprocess.run(
            [sys.executable, "-c", count, database], check=True, capture_output=True, text=True
        )
        assert seen.stdout.strip() == "2"
    finally:
        writer.close()
