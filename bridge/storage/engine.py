"""Database engine creation, with the per-connection settings each backend needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bridge.storage.sqlite_driver import async_creator
from bridge.storage.write_queue import SerialisedWrites

# How long SQLite waits for a competing writer before raising "database is locked". The
# CLI (audit, privacy) may write while `run` does, so a short wait beats an error.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url) and "async_creator" not in kwargs:
        kwargs["async_creator"] = async_creator(url)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Set on every connection, since pragmas other than journal_mode are per connection.
    # WAL lets readers (dashboard, CLI) run while the bridge writes; synchronous=NORMAL is
    # durable across process crashes in WAL mode (only an OS crash can lose the last
    # commits), which is the failure the intake must survive (kill -9). secure_delete
    # zeroes what a delete or a shrinking update frees (SQLite pragma docs), so a finished
    # row's scrubbed body does not linger in a page's free space.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if engine.dialect.name == "sqlite":
        return SerialisedWrites(engine, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)
