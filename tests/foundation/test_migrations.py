"""Migrations apply from empty on every backend, and `run` refuses an outdated schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import bridge.storage.all_rows  # noqa: F401 - every table
from bridge.cli.main import main
from bridge.storage.database import Database
from bridge.storage.models import Base
from bridge.storage.schema import SchemaOutdatedError, current_revision, head_revision
from tests.fixtures.bridge_config import write_config


async def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert await current_revision(database.engine) is None
        with pytest.raises(SchemaOutdatedError, match="bridge db upgrade"):
            await database.require_current_schema()
        await database.upgrade()
        assert await current_revision(database.engine) == head_revision()
        await database.require_current_schema()
        async with database.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"as_transaction", "inbox_event", "outbox", "cursor"} <= tables
        await database.upgrade()  # idempotent
    finally:
        await database.close()


def test_run_refuses_outdated_schema_naming_db_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.yaml")
    assert main(["run", "-c", str(config)]) == 3
    err = capsys.readouterr().err
    assert "bridge db upgrade" in err
    assert "Traceback" not in err


def test_db_upgrade_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.yaml")
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "bridge.db").exists()


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with database.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert (mode, fks) == ("wal", 1)
        assert busy is not None and busy >= 1000
    finally:
        await database.close()


async def test_migrations_create_exactly_the_tables_the_models_describe(db_url: str) -> None:
    """A model change without its migration (or the reverse) shows up here."""
    database = Database(db_url)
    try:
        await database.upgrade()
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await database.close()
    assert diff == []
