"""Small helpers shared by the repositories."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


def now_ms() -> int:
    return int(time.time() * 1000)


def insert_ignoring_conflicts(session: AsyncSession | Session, entity: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for whichever backend the session is on."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(entity).on_conflict_do_nothing()


def rowcount(result: Any) -> int:
    """Rows an INSERT/UPDATE touched (``execute`` is typed as returning a plain Result)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)
