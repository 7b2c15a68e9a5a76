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
statement of the session that could see or touch them runs (SQLAlchemy's
``do_orm_execute`` event, which every ``session.execute``/``scalar``/``get`` that reaches
the database passes through): one that names a table with rows held back, any DELETE (a
cascade may reach them) and any statement whose tables are not known (text); before the
session flushes ORM objects of such a table (``before_flush``); and before commit (the
unit of work calls :meth:`flush`). No table refers to the tables held here by a foreign
key, so an INSERT or UPDATE of another table cannot depend on them.

A savepoint that rolls back (:meth:`begin` … :meth:`end`) discards the rows added inside
it. Rows added before it but written while it was open were undone with it: they are
held again, to be written with the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from sqlalchemy import Delete, FromClause, Table, TextClause, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import ClauseElement, visitors

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
        if not self._rows or self._writing:
            return
        statement = state.statement
        named = {
            t for t in visitors.iterate(cast(ClauseElement, statement)) if isinstance(t, Table)
        }
        unknown = isinstance(statement, TextClause) or not named
        held = {row.table for row in self._rows}
        if unknown or isinstance(statement, Delete) or named & held:
            self._write(state.session)

    def _before_flush(self, session: Session, *_args: Any) -> None:
        if not self._rows or self._writing:
            return
        held = {row.table for row in self._rows}
        changed = {getattr(o, "__table__", None) for o in (*session.new, *session.dirty)}
        if session.deleted or changed & held:  # a delete may cascade to rows held here
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
