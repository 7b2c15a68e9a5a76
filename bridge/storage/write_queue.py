"""SQLite's write lock handed over inside the process, not through its busy handler.

SQLite admits one writer at a time. A connection that finds the lock taken sleeps in its
busy handler (1, 2, 5, 10 … 100 ms between tries, sqlite3.c ``sqliteDefaultBusyCallback``)
and so keeps waiting long after the holder committed. Every write transaction of the
bridge begins through ``sessions.begin()``, so queueing those on an asyncio lock wakes the
next writer the moment the previous one ends. Other processes (the CLI) still meet the
busy handler, as before. In benchmark 2 (BENCHMARKS.md) this took the end-to-end rate on
SQLite from ~42 to ~60 events/s: the outbox's done-records had been sleeping there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class TaskReentrantLock:
    """An asyncio lock the holding task may take again (a unit of work that calls a store
    which opens its own transaction must not wait for itself)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield  # the outermost holder releases it
            return
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


class SerialisedWrites(async_sessionmaker[AsyncSession]):
    """``begin()`` waits its turn on the process's write queue; plain sessions (reads) do
    not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_lock = TaskReentrantLock()

    def begin(self) -> Any:
        return self._begin_in_turn()

    @asynccontextmanager
    async def _begin_in_turn(self) -> AsyncIterator[AsyncSession]:
        async with self.write_lock.held(), super().begin() as session:
            yield session
