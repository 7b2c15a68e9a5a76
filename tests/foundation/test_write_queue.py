"""SQLite write transactions of one process take turns on an asyncio lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bridge.storage.database import Database
from bridge.storage.write_queue import SerialisedWrites


async def test_write_transactions_of_different_tasks_never_overlap(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    assert isinstance(db.sessions, SerialisedWrites)
    inside, most = 0, 0

    async def writer(n: int) -> None:
        nonlocal inside, most
        async with db.sessions.begin() as session:
            inside += 1
            most = max(most, inside)
            await session.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
            await asyncio.sleep(0.01)  # another task would run its transaction now
            await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            inside -= 1

    try:
        await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(8))), 30)
        async with db.sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 8
    finally:
        await db.close()
    assert most == 1


async def test_a_task_may_open_a_write_transaction_inside_its_own(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    try:

        async def nested() -> None:
            async with db.sessions.begin() as outer:
                await outer.execute(text("SELECT 1"))
                async with db.sessions.begin() as inner:
                    await inner.execute(text("SELECT 2"))

        await asyncio.wait_for(nested(), 10)  # waiting for itself would time out here

        async def other() -> None:
            async with db.sessions.begin() as session:
                await session.execute(text("SELECT 3"))

        await asyncio.wait_for(other(), 10)  # and the lock was released after all
    finally:
        await db.close()


async def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    release = asyncio.Event()
    try:

        async def slow_writer() -> None:
            async with db.sessions.begin() as session:
                await session.execute(text("CREATE TABLE t (n INTEGER)"))
                await release.wait()

        task = asyncio.create_task(slow_writer())
        await asyncio.sleep(0.05)
        async with db.sessions() as session:
            assert await asyncio.wait_for(session.scalar(text("SELECT 42")), 5) == 42
        release.set()
        await task
    finally:
        await db.close()
