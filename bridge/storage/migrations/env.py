"""Alembic environment: runs the migration chain on the connection the caller hands in."""

from __future__ import annotations

from alembic import context

import bridge.storage.audit_rows  # noqa: F401 - registers the audit log tables
import bridge.storage.bridging_rows  # noqa: F401 - registers the bridging tables
import bridge.storage.commands_rows  # noqa: F401 - registers the !privacy command tables
import bridge.storage.erasure_rows  # noqa: F401 - registers the erasure tables
import bridge.storage.ledger_rows  # noqa: F401 - registers the ledger tables on Base.metadata
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
