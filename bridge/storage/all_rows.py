"""Every table of the bridge, registered on ``Base.metadata`` by importing its module.

Alembic's environment and the migration check import this one module, so a new rows
module is added in one place.
"""

from __future__ import annotations

from bridge.storage import (  # noqa: F401 - imported for their table definitions
    audit_rows,
    bridging_rows,
    commands_rows,
    erasure_rows,
    incidents_rows,
    ledger_rows,
    models,
    partners_rows,
    policy_rows,
    pseudonym_keys,
    software_rows,
)
