"""Leader locks: one holder at a time per job among processes sharing one database.

On PostgreSQL a job's lock is a session-level advisory lock (``pg_try_advisory_lock``),
taken on one connection of its own that this process keeps open for as long as it
leads anything. PostgreSQL releases a session's advisory locks when the session ends
(https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS), so when
a holder dies, even by SIGKILL, its socket closes, the server ends the session, and
another process takes the lock at its next try.

The holder must also notice when it no longer holds a lock while it still runs: the
connection can drop (the server restarted, a network fault), and then another process
may already lead. :meth:`LeaderLocks.holds` asks the server whether this session still
holds the lock, and any failure to get an answer within the timeout counts as lost.

A connection that stops answering without closing (a half-open TCP connection) keeps
its session, and so its locks, on the server until the server notices. When this
process gives such a connection up, its next connection ends the old session
(``pg_terminate_backend``, allowed on one's own role's sessions), identified by process
id *and* start time so that a reused process id is never hit.

SQLite serves one process (docs/operations.md): that process holds every lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import suppress
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from bridge.storage.engine import create_engine, is_sqlite

log = logging.getLogger(__name__)

# Advisory lock keys share one 64-bit space per database with anything else using them.
KEY_NAMESPACE = b"rc-matrix-bridge/leader/"

HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
    " AND classid::bigint = :high AND objid::bigint = :low)"
)


def lock_key(job: str) -> int:
    """A job's advisory lock key: a non-negative bigint from its name."""
    digest = hashlib.sha256(KEY_NAMESPACE + job.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class _Session(NamedTuple):
    """A database session, told apart from a later one that reuses its process id."""

    pid: int
    started: datetime


class LeaderLocks:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout_s
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._session: _Session | None = None
        # A session given up without being seen to end: ended from the next one.
        self._abandoned: _Session | None = None
        self._held: set[str] = set()
        self._io = asyncio.Lock()

    @property
    def trivial(self) -> bool:
        """SQLite: this process is the only one, and holds every lock."""
        return is_sqlite(self._url)

    async def try_acquire(self, job: str) -> bool:
        """Take ``job``'s lock if no other process holds it; True when this one does."""
        if self.trivial:
            return True
        async with self._io:
            if job in self._held:
                return True
            try:
                async with asyncio.timeout(self._timeout):
                    conn = await self._connection()
                    taken = await conn.scalar(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(job)}
                    )
            except Exception as e:  # the database away: not the leader, try again later
                log.warning("Cannot ask the database for the %s lock: %s", job, _reason(e))
                await self._drop(abandoned=isinstance(e, TimeoutError))
                return False
            if taken:
                self._held.add(job)
            return bool(taken)

    async def holds(self, job: str) -> bool:
        """Whether this process still holds ``job``'s lock, as the server says now."""
        if self.trivial:
            return True
        async with self._io:
            if job not in self._held or self._conn is None:
                return False
            key = lock_key(job)
            try:
                async with asyncio.timeout(self._timeout):
                    held = await self._conn.scalar(
                        HOLDS, {"high": key >> 32, "low": key & 0xFFFFFFFF}
                    )
            except Exception as e:  # no answer: whoever leads now, it may not be us
                log.warning("Lost the database session holding leader locks: %s", _reason(e))
                await self._drop(abandoned=isinstance(e, TimeoutError))
                return False
            if not held:
                self._held.discard(job)
            return bool(held)

    async def release(self, job: str) -> None:
        """Give ``job``'s lock up (at shutdown, or when its work ended)."""
        if self.trivial:
            return
        async with self._io:
            if job not in self._held:
                return
            self._held.discard(job)
            if self._conn is None:
                return
            try:
                async with asyncio.timeout(self._timeout):
                    await self._conn.scalar(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(job)}
                    )
            except Exception as e:  # ending the session frees it just as well
                log.warning("Cannot release the %s lock: %s", job, _reason(e))
                await self._drop(abandoned=isinstance(e, TimeoutError))

    async def close(self) -> None:
        """Release everything by ending the session."""
        async with self._io:
            await self._drop(abandoned=False)
            if self._engine is not None:
                await self._engine.dispose()
                self._engine = None

    async def _connection(self) -> AsyncConnection:
        if self._conn is not None:
            return self._conn
        if self._engine is None:
            # A connection of its own, never returned to a pool: ending it must end the
            # session, or the locks would live on in another user of the pool.
            self._engine = create_engine(self._url, poolclass=NullPool)
        conn = await self._engine.connect()
        # Autocommit: the session holds its locks without a transaction open for days.
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (
            await conn.execute(
                text("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            )
        ).one()
        self._conn, self._session = conn, _Session(int(row[0]), row[1])
        if self._abandoned is not None:
            await self._end_abandoned(conn, self._abandoned)
            self._abandoned = None
        return conn

    @staticmethod
    async def _end_abandoned(conn: AsyncConnection, old: _Session) -> None:
        ended = await conn.scalar(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid = :pid AND backend_start = :started"
            ),
            {"pid": old.pid, "started": old.started},
        )
        if ended:
            log.info("Ended this process's earlier database session %d, which held locks", old.pid)

    async def _drop(self, *, abandoned: bool) -> None:
        """Forget the session (and so every lock held through it)."""
        conn, session = self._conn, self._session
        self._conn, self._session = None, None
        self._held.clear()
        if conn is None:
            return
        if abandoned and session is not None:
            self._abandoned = session
        with suppress(Exception):
            async with asyncio.timeout(self._timeout):
                await conn.close()
                return
        # No orderly goodbye: drop the socket.
        with suppress(Exception):
            await conn.invalidate()


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}"[:300]
