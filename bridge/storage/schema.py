"""Schema versioning: apply the Alembic chain, and tell whether a database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutdatedError(Exception):
    """The database is not at the newest migration; ``bridge db upgrade`` fixes it."""

    def __init__(self, current: str | None, head: str) -> None:
        where = "empty" if current is None else f"at revision {current}"
        super().__init__(
            f"the database schema is {where}, but this version needs {head}; "
            "run `bridge db upgrade -c <config>` first"
        )
        self.current = current
        self.head = head


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def require_current(engine: AsyncEngine) -> None:
    """Refuse to run on an outdated schema rather than fail later mid-transaction."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaOutdatedError(current, head)
