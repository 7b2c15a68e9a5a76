"""aiosqlite with one thread hop per statement instead of four.

aiosqlite runs every call on the sqlite3 connection in a thread of its own, and
SQLAlchemy's adapter makes four such calls per statement: create the cursor, execute,
fetch all rows, close. Each call is a round trip between the event loop and that thread,
which on our machines costs 100–250 µs, against ~40 µs for the whole statement run
synchronously; it was most of the bridge's time per bridged message on SQLite (benchmark
2 in BENCHMARKS.md). The cursor here does all four steps in one call and hands the
already-fetched rows to SQLAlchemy, which buffers them anyway for a non-streaming result.

It relies on aiosqlite's ``Connection._execute`` and ``_conn`` (private, so the pin in
pyproject.toml is narrow); everything else is aiosqlite's own.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import URL, make_url
from sqlalchemy.orm import Session

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]


class FusedCursor:
    """The subset of aiosqlite's ``Cursor`` that SQLAlchemy's adapter uses."""

    arraysize = 1

    def __init__(self, connection: FusedConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> FusedCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> FusedCursor:
        outcome = await self._connection.run_statement(sql, parameters or (), many=False)
        self._keep(outcome)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> FusedCursor:
        self._keep(await self._connection.run_statement(sql, parameters, many=True))
        return self

    def _keep(self, outcome: _Outcome) -> None:
        self.description, self.rowcount, self.lastrowid, self._rows = outcome

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = self.arraysize if size is None else size
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    async def close(self) -> None:
        self._rows = []


class FusedConnection(aiosqlite.Connection):
    def cursor(self) -> FusedCursor:  # type: ignore[override]
        # Not a coroutine, no thread hop: SQLAlchemy enters it with `async with`, and the
        # sqlite3 cursor is made in the thread, per statement.
        return FusedCursor(self)

    def stop(self) -> asyncio.Future[Any] | None:
        # A task cancelled while SQLAlchemy closes the connection both force-stops it
        # (`_terminate_force_close`) and, in the shielded graceful close, stops it again;
        # the second stop's future would wait on a thread that already ended, forever
        # (seen as a hang at interpreter shutdown). One stop is enough.
        if not self._running:
            return None
        return super().stop()

    async def commit(self) -> None:
        if self._in_transaction():
            await super().commit()

    async def rollback(self) -> None:
        # SQLAlchemy rolls back every connection it returns to the pool; after a read-only
        # session (sqlite3 began no transaction) or a commit that is a no-op worth a hop.
        if self._in_transaction():
            await super().rollback()

    def transaction_open(self) -> bool:
        """Whether sqlite3 has a transaction open on this connection."""
        return self._in_transaction()

    def _in_transaction(self) -> bool:
        # Read from the loop's thread while no statement runs on this connection
        # (SQLAlchemy serialises its use); a connection bound to its thread says so.
        try:
            return self._conn.in_transaction
        except sqlite3.ProgrammingError:
            return True

    async def run_statement(self, sql: str, parameters: Any, *, many: bool) -> _Outcome:
        # aiosqlite's own queue to its thread (untyped): one call runs the whole statement.
        result: _Outcome = await self._execute(  # type: ignore[no-untyped-call]
            _run, self._conn, sql, parameters, many
        )
        return result


def begin_if_idle(session: Session) -> None:
    """Open the transaction now if sqlite3 has not yet (run in SQLAlchemy's sync context,
    before a SAVEPOINT).

    sqlite3 begins a transaction only before its first INSERT, UPDATE or DELETE, and a
    SAVEPOINT outside a transaction starts one of its own, which its RELEASE commits
    (SQLite's SAVEPOINT documentation; SQLAlchemy's pysqlite notes, "Serializable
    isolation / Savepoints / Transactional DDL"). A unit of work that had only read when
    its first savepoint began would commit at that savepoint's release, and a later
    rollback would undo nothing before it.
    """
    connection = session.connection()
    driver = connection.connection.driver_connection
    if isinstance(driver, FusedConnection) and not driver.transaction_open():
        connection.exec_driver_sql("BEGIN")


def _run(conn: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """Runs in aiosqlite's thread: execute, drain and close in one go."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def private_database_files(database: str) -> None:
    """Make the database file readable by the bridge's own user only (0600).

    The file holds message bodies in flight and sealed secrets; created by sqlite3 it
    would get the process umask (often 0644, readable by every local user). It is created
    here first, with 0600; SQLite then gives its -wal and -shm files the database file's
    own permissions (SQLite src/os_unix.c, findCreateFileMode). An existing file, or
    -wal/-shm left by an older version, loses any group and other bits.

    An existing database file is never opened here: closing any descriptor of a file
    drops every POSIX lock the process holds on it, the locks of this process's other
    SQLite connections included (SQLite's "How To Corrupt An SQLite Database File",
    section 2.2). Another process then took itself for the last connection, checkpointed
    and deleted the write-ahead log that this process kept writing to: commits nobody
    else could read, gone at the next crash.
    """
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # tightened below by path, without opening it
    except OSError:
        return  # e.g. no such folder: sqlite3.connect reports it, naming the path
    else:
        os.close(fd)
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            mode = os.stat(path).st_mode & 0o777
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
        except OSError:
            continue  # not there (yet), or not ours: nothing to tighten


def async_creator(url: str | URL) -> Any:
    """An ``async_creator`` for ``create_async_engine`` on a ``sqlite+aiosqlite`` URL.

    The database path and options are the ones SQLAlchemy's own dialect would pass.
    """
    parsed = make_url(url)
    args, options = parsed.get_dialect()().create_connect_args(parsed)
    (database,) = args

    async def connect() -> FusedConnection:
        private_database_files(database)
        connection = FusedConnection(lambda: sqlite3.connect(database, **options), 64)
        # As SQLAlchemy does for aiosqlite's own connections: a forgotten connection
        # must not keep the interpreter from exiting.
        connection._thread.daemon = True
        await connection
        return connection

    return connect
