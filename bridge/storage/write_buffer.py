"""Rows a unit of work inserts, held back and written together, one multi-row INSERT per
table.

An inbox batch enqueues an outbox action or two per event, and a batch of finished
actions records a message-map row and a disclosure per action: each of those was an
INSERT of its own, a round trip to the database (or to aiosqlite's thread) per row. Held
here, they go as ``INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING`` (at most
:data:`CHUNK` rows per statement), in the order they were added, so the ids a table
hands out keep that order (the outbox's queues rely on it: a multi-row VALUES list is
inserted row by row, in order, by both SQLite and PostgreSQL).

Nothing in the transaction can tell the rows were held back: they are written before any
other statement of the session runs (SQLAlchemy's ``do_orm_execute`` event, which every
``session.execute``/``scalar``/``get`` that reaches the database passes through), before
the session flushes ORM objects (``before_flush``), and before commit (the unit of work
calls :meth:`flush`).

A savepoint that rolls back (:meth:`begin` … :meth:`end`) discards the rows added inside
it. Rows added before it but written while it was open were undone with it: they are
held again, to be written with the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import FromClause, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from bridge.storage.common import insert_ignoring_conflicts

# Rows per statement: well under both databases' limits on bound parameters (SQLite
# 32766, PostgreSQL's protocol 32767) for the widest table held here.
CHUNK = 500


class _Row(NamedTuple):
    seq: int  # order added
    table: FromClause
    values: dict[str, Any]


class Savepoint:
    """Bookkeeping of one open savepoint (not a stored value)."""

    def __init__(self, start: int) -> None:
        self.start = start  # the first sequence number added inside it
        # Rows added before it, written while it was open: undone if it rolls back.
        self.carried: dict[int, _Row] = {}


class InsertBuffer:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows: list[_Row] = []
        self._seq = 0
        self._open: list[Savepoint] = []
        self._writing = False
        sync = session.sync_session
        event.listen(sync, "do_orm_execute", self._before_statement)
        event.listen(sync, "before_flush", self._before_flush)

    def add(self, table: FromClause, row: dict[str, Any]) -> None:
        """Insert ``row`` into ``table`` before anything else runs (a key already there is
        ignored, as ``insert_ignoring_conflicts`` does)."""
        self._rows.append(_Row(self._seq, table, row))
        self._seq += 1

    def begin(self) -> Savepoint:
        savepoint = Savepoint(self._seq)
        self._open.append(savepoint)
        return savepoint

    def end(self, savepoint: Savepoint, *, rolled_back: bool) -> None:
        self._open.remove(savepoint)
        if not rolled_back:
            return
        held = [r for r in self._rows if r.seq < savepoint.start]
        self._rows = sorted([*held, *savepoint.carried.values()], key=lambda r: r.seq)
        for outer in self._open:  # held again, so no longer written in those
            for seq in savepoint.carried:
                outer.carried.pop(seq, None)

    async def flush(self) -> None:
        if self._rows:
            await self._session.run_sync(self._write)

    def _before_statement(self, state: ORMExecuteState) -> None:
        if self._rows and not self._writing:
            self._write(state.session)

    def _before_flush(self, session: Session, *_args: Any) -> None:
        if self._rows and not self._writing:
            self._write(session)

    def _write(self, session: Session) -> None:
        """Runs in SQLAlchemy's sync context (the event hooks, or ``run_sync``)."""
        rows, self._rows = self._rows, []
        by_table: dict[FromClause, list[dict[str, Any]]] = {}
        for row in rows:
            by_table.setdefault(row.table, []).append(row.values)
            for savepoint in self._open:
                if row.seq < savepoint.start:
                    savepoint.carried[row.seq] = row
        self._writing = True
        try:
            connection = session.connection()
            for table, values in by_table.items():
                for i in range(0, len(values), CHUNK):
                    stmt = insert_ignoring_conflicts(session, table)
                    connection.execute(stmt.values(values[i : i + CHUNK]))
        finally:
            self._writing = False
