"""Throwaway PostgreSQL databases for benchmarks (``BRIDGE_BENCH_POSTGRES_URL``)."""

from __future__ import annotations

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
