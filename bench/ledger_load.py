"""Bulk-loads synthetic ledger data into a database whose schema the real migrations made.

The load is the benchmark's set-up, not the bridge's write path. By default the indexes
stay in place, so they grow row by row in send-time order as the bridge grows them (the
subject index by random inserts, with the page splits that brings); ``rebuild_indexes``
drops the two secondary disclosure indexes first and re-creates them afterwards from the
very definitions the migrations wrote (read back from the catalogue), which is faster and
packs them tighter. SQLite loads with ``synchronous=OFF`` and foreign keys unchecked (the
data is consistent by construction) during the load only; PostgreSQL loads with ``COPY``.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from typing import Any

import asyncpg

from bench import ledger_data as data
from bench.ledger_data import Shape

log = logging.getLogger(__name__)

DISCLOSURE_INDEXES = ("ix_ledger_disclosure_room_time", "ix_ledger_disclosure_subject")
SUBJECT_COLUMNS = (
    "id",
    "origin",
    "matrix_user_id",
    "rc_user_id",
    "rc_username",
    "pseudonym",
    "created_ms",
    "erased_ms",
)
DISCLOSURE_COLUMNS = (
    "id",
    "subject_ref",
    "room_ref",
    "origin",
    "categories",
    "sent_ms",
    "event_id",
    "rc_message_id",
    "content_hash",
)


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def load_sqlite(url: str, shape: Shape, rebuild_indexes: bool = False) -> float:
    """Fill the SQLite ledger; returns the seconds it took."""
    began = time.perf_counter()
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache during the load
        index_sql = [
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type='index' AND name IN (?, ?)",
                DISCLOSURE_INDEXES,
            )
        ]
        assert len(index_sql) == len(DISCLOSURE_INDEXES), "migrations did not create the indexes"
        if rebuild_indexes:
            for name in DISCLOSURE_INDEXES:
                conn.execute(f"DROP INDEX {name}")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO ledger_server (id, name, kind) VALUES (?, ?, ?)", data.servers(shape)
        )
        conn.executemany(
            "INSERT INTO ledger_room (id, room_id, rc_room_id, rc_server_ref, seeded_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            data.rooms(shape),
        )
        conn.executemany(
            "INSERT INTO ledger_reach (room_ref, server_ref, from_ms, to_ms) VALUES (?, ?, ?, ?)",
            data.reach(shape, random.Random(7)),
        )
        conn.executemany(
            f"INSERT INTO ledger_subject ({', '.join(SUBJECT_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            data.subjects(shape),
        )
        conn.execute("COMMIT")
        insert = (
            f"INSERT INTO ledger_disclosure ({', '.join(DISCLOSURE_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        loaded = 0
        for chunk in data.disclosures(shape):
            conn.execute("BEGIN")
            conn.executemany(insert, chunk)
            conn.execute("COMMIT")
            loaded += len(chunk)
            if loaded % 1_000_000 < len(chunk):
                log.info("SQLite: %d disclosures loaded", loaded)
        if rebuild_indexes:
            for sql in index_sql:
                conn.execute(sql)
            log.info("SQLite: indexes rebuilt")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - began


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def load_postgres(url: str, shape: Shape, rebuild_indexes: bool = False) -> float:
    """Fill the PostgreSQL ledger with COPY; returns the seconds it took."""
    began = time.perf_counter()
    conn = await asyncpg.connect(_plain(url), timeout=30)
    try:
        defs = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY($1::text[])",
            list(DISCLOSURE_INDEXES),
        )
        assert len(defs) == len(DISCLOSURE_INDEXES), "migrations did not create the indexes"
        if rebuild_indexes:
            for row in defs:
                await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        await conn.copy_records_to_table(
            "ledger_server", records=data.servers(shape), columns=["id", "name", "kind"]
        )
        await conn.copy_records_to_table(
            "ledger_room",
            records=data.rooms(shape),
            columns=["id", "room_id", "rc_room_id", "rc_server_ref", "seeded_ms"],
        )
        await conn.copy_records_to_table(
            "ledger_reach",
            records=data.reach(shape, random.Random(7)),
            columns=["room_ref", "server_ref", "from_ms", "to_ms"],
        )
        await conn.copy_records_to_table(
            "ledger_subject", records=data.subjects(shape), columns=list(SUBJECT_COLUMNS)
        )
        loaded = 0
        for chunk in data.disclosures(shape):
            await conn.copy_records_to_table(
                "ledger_disclosure", records=chunk, columns=list(DISCLOSURE_COLUMNS)
            )
            loaded += len(chunk)
            if loaded % 1_000_000 < len(chunk):
                log.info("PostgreSQL: %d disclosures loaded", loaded)
        if rebuild_indexes:
            for row in defs:
                await conn.execute(row["indexdef"])
            log.info("PostgreSQL: indexes rebuilt")
        for table in ("ledger_server", "ledger_room", "ledger_subject", "ledger_disclosure"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        # Autovacuum would analyse the new rows shortly after such a load anyway.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - began


def sqlite_bytes(url: str) -> dict[str, Any]:
    """Bytes of the disclosure table and its indexes (dbstat), and of the whole file."""
    conn = sqlite3.connect(sqlite_path(url))
    try:
        names = ("ledger_disclosure", *DISCLOSURE_INDEXES)
        marks = ", ".join("?" for _ in names)
        table = conn.execute(
            f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names
        ).fetchone()[0]
        pages, size = (
            conn.execute("PRAGMA page_count").fetchone()[0],
            conn.execute("PRAGMA page_size").fetchone()[0],
        )
        rows = conn.execute("SELECT COUNT(*) FROM ledger_disclosure").fetchone()[0]
    finally:
        conn.close()
    return {"disclosure_bytes": int(table), "file_bytes": pages * size, "rows": rows}


async def postgres_bytes(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(_plain(url), timeout=30)
    try:
        table = await conn.fetchval("SELECT pg_total_relation_size('ledger_disclosure')")
        whole = await conn.fetchval("SELECT pg_database_size(current_database())")
        rows = await conn.fetchval("SELECT COUNT(*) FROM ledger_disclosure")
    finally:
        await conn.close()
    return {"disclosure_bytes": int(table), "file_bytes": int(whole), "rows": int(rows)}
