"""Alembic environment: runs the migration chain on the connection the caller hands in."""

from __future__ import annotations

from alembic import context

import bridge.storage.all_rows  # noqa: F401 - registers every table on Base.metadata
from bridge.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    # Migrations run only through bridge.storage.schema, which always passes a connection
    # (async engines cannot be driven from Alembic's synchronous entry point directly).
    raise RuntimeError("run migrations through bridge.storage.schema, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
