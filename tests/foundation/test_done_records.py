"""Finished outbox actions are recorded together (bridge.workers.done_records): one
transaction for those that finish at once, and one action's trouble stays its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bridge.bridging.action_values import MatrixRedact, Redacted
from bridge.bridging.records import Records
from bridge.pipeline.actions import Run, executor, new_action, on_done
from bridge.pipeline.kinds import MATRIX_REDACT
from bridge.storage.bridging import BridgedMessage
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import OutboxWorker


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _portal(db: Database) -> int:
    async with db.unit_of_work() as uow:
        return (await uow.bridging.add_portal("GENERAL", "c", "!room:hs1.test", "general")).id


async def test_actions_that_finish_at_once_are_recorded_in_one_transaction(
    db: Database,
) -> None:
    portal = await _portal(db)
    units: set[int] = set()

    async def send(action: Action) -> dict[str, Any]:
        return {"event_id": f"$sent-{action.key}"}

    async def sent(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        units.add(id(uow))
        assert result is not None
        await uow.bridging.add_message(
            BridgedMessage(portal, action.key, 0, result["event_id"], "rc", "rc-alice", 1)
        )

    for i in range(5):  # five queues: five actions running at once
        await db.outbox.add(NewAction(f"m{i}", "send", f"room-{i}"))
    worker = OutboxWorker(db, {"send": send}, on_done={"send": sent})
    assert await worker.drain_once() == 5
    assert len(units) == 1
    assert (await db.outbox.stats()).pending == 0
    async with db.unit_of_work() as uow:
        for i in range(5):
            (mapped,) = await uow.bridging.messages_by_rc(f"m{i}")
            assert mapped.matrix_event_id == f"$sent-m{i}"


async def test_a_failing_hook_in_a_batch_fails_only_its_own_action(db: Database) -> None:
    portal = await _portal(db)

    async def send(action: Action) -> dict[str, Any]:
        return {"event_id": f"$sent-{action.key}"}

    async def sent(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        await uow.bridging.add_message(
            BridgedMessage(portal, action.key, 0, f"$e-{action.key}", "rc", "u", 1)
        )
        if action.key == "bad":
            raise RuntimeError("the record could not be written")

    for key in ("good-1", "bad", "good-2"):
        await db.outbox.add(NewAction(key, "send", f"room-{key}"))
    worker = OutboxWorker(db, {"send": send}, on_done={"send": sent})
    assert await worker.drain_once() == 3
    for key in ("good-1", "good-2"):
        assert (await db.outbox.get(key) or {})["status"] == "done"
    bad = await db.outbox.get("bad")
    assert bad is not None and bad["status"] == "pending" and bad["attempts"] == 1
    assert "recording failed" in (bad["last_error"] or "")
    async with db.unit_of_work() as uow:
        assert await uow.bridging.messages_by_rc("bad") == []
        assert len(await uow.bridging.messages_by_rc("good-2")) == 1


async def test_an_action_another_worker_recorded_is_not_recorded_twice(db: Database) -> None:
    """Its claim ran out and another process ran and recorded it meanwhile: the batch
    falls back to one action at a time, and only that action's records are dropped."""
    portal = await _portal(db)

    async def send(action: Action) -> dict[str, Any]:
        if action.key == "taken":
            async with db.unit_of_work() as other:  # the other process, first
                await other.outbox_done(action.id)
        return {}

    async def sent(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        await uow.bridging.add_message(
            BridgedMessage(portal, action.key, 0, f"$by-{action.key}", "rc", "u", 1)
        )

    for key in ("mine", "taken"):
        await db.outbox.add(NewAction(key, "send", f"room-{key}"))
    worker = OutboxWorker(db, {"send": send}, on_done={"send": sent})
    await worker.drain_once()
    assert (await db.outbox.get("mine") or {})["status"] == "done"
    async with db.unit_of_work() as uow:
        assert len(await uow.bridging.messages_by_rc("mine")) == 1
        assert await uow.bridging.messages_by_rc("taken") == []


async def test_the_portals_a_batch_names_are_read_in_one_statement(db: Database) -> None:
    async with db.unit_of_work() as uow:
        portals = [
            (await uow.bridging.add_portal(f"RC{i}", "c", f"!r{i}:hs1.test", None)).id
            for i in range(3)
        ]
    rooms: list[str | None] = []

    async def redact(run: Run[MatrixRedact]) -> Redacted:
        return Redacted("$redaction")

    async def redacted(uow: UnitOfWork, run: Run[MatrixRedact], result: Redacted) -> None:
        portal = await uow.bridging.portal_by_id(run.payload.portal_id)
        rooms.append(None if portal is None else portal.matrix_room_id)

    for i in range(6):
        value = MatrixRedact(portals[i % 3], "@bot:hs1.test", f"$e{i}")
        await db.outbox.add(new_action(value, key=f"m{i}", queue=f"room-{i}"))
    worker = OutboxWorker(
        db,
        {MATRIX_REDACT: executor(MatrixRedact, redact)},
        on_done={MATRIX_REDACT: on_done(MatrixRedact, Redacted, redacted)},
        prefetch=Records.prefetch,
    )
    with statements(db) as seen:
        assert await worker.drain_once() == 6
    assert sorted(r or "" for r in rooms) == sorted(f"!r{i % 3}:hs1.test" for i in range(6))
    assert len([s for s in seen if "FROM portal" in s]) == 1, seen
