"""Throwaway PostgreSQL databases for benchmarks (``BRIDGE_BENCH_POSTGRES_URL``)."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def postgres_url() -> str | None:
    """The server to use, or None when it is switched off (``BRIDGE_BENCH_POSTGRES_URL=``)."""
    url = os.environ.get("BRIDGE_BENCH_POSTGRES_URL", DEFAULT_URL)
    return url or None


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _old = url.rpartition("/")
    return f"{base}/{name}"


async def reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(_plain(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def throwaway_database(url: str, prefix: str) -> AsyncIterator[str]:
    """A fresh database on the server of ``url``; dropped afterwards. Yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_plain(url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(url, name)
    finally:
        admin = await asyncpg.connect(_plain(url), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def backend_cpu(url: str | None, since: dict[int, float] | None = None) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the database of ``url`` (read
    from /proc, so on this machine only), less what each had used at ``since``; empty for
    SQLite or when the server is not local."""
    if url is None or not url.startswith("postgresql"):
        return {}
    from bench.machine import cpu_seconds  # noqa: PLC0415 - a leaf; avoids an import cycle

    conn = await asyncpg.connect(_plain(url), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    before = since or {}
    now = {int(r["pid"]): cpu_seconds(int(r["pid"])) for r in rows}
    return {pid: t - before.get(pid, 0.0) for pid, t in now.items() if math.isfinite(t)}
