"""New rows held back and written together (bridge.storage.write_buffer): one multi-row
INSERT, ids in the order added, and nothing in the transaction can tell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from bridge.storage.bridging import BridgedMessage
from bridge.storage.database import Database
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import NewAction


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


async def test_actions_of_a_unit_of_work_go_in_one_insert_in_the_order_enqueued(
    db: Database,
) -> None:
    keys = [f"k{i}" for i in (3, 1, 2, 1)]  # the repeated key is ignored, as before
    with statements(db) as seen:
        async with db.unit_of_work() as uow:
            for key in keys:
                await uow.enqueue(NewAction(key, "noop", "room"))
    inserts = [s for s in seen if s.startswith("INSERT INTO outbox")]
    assert len(inserts) == 1, seen
    async with db.sessions() as session:
        rows = (await session.execute(select(OutboxAction.key).order_by(OutboxAction.id))).all()
    assert [r.key for r in rows] == ["k3", "k1", "k2"]
    assert [a.key for a in await db.outbox.due(10)] == ["k3"]  # one queue: its head


async def test_a_read_or_write_in_the_transaction_sees_the_rows_held_back(db: Database) -> None:
    message = BridgedMessage(1, "rc-1", 0, "$event", "rc", "rc-alice", 5)
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("GENERAL", "c", "!room:hs1.test", "general")
        message = BridgedMessage(portal.id, "rc-1", 0, "$event", "rc", "rc-alice", 5)
        await uow.bridging.add_message(message)
        assert await uow.bridging.messages_by_rc("rc-1") == [message]
        await uow.bridging.mark_deleted("rc-1")
        await uow.enqueue(NewAction("after", "noop", "room"))
        assert await uow.enqueue_new(NewAction("after", "noop", "room")) is False
    async with db.unit_of_work() as uow:
        (stored,) = await uow.bridging.messages_by_rc("rc-1")
        assert stored.deleted


async def test_a_savepoint_that_rolls_back_takes_its_rows_with_it(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.enqueue(NewAction("kept-1", "noop", "room"))
        async with uow.savepoint():
            await uow.enqueue(NewAction("kept-2", "noop", "room"))
        try:
            async with uow.savepoint():
                await uow.enqueue(NewAction("gone-1", "noop", "room"))
                assert not await uow.bridging.messages_by_rc("x")  # writes what is held
                await uow.enqueue(NewAction("gone-2", "noop", "room"))
                raise RuntimeError("a bad event")
        except RuntimeError:
            pass
        await uow.enqueue(NewAction("kept-3", "noop", "room"))
    async with db.sessions() as session:
        keys = list(await session.scalars(select(OutboxAction.key).order_by(OutboxAction.id)))
    assert keys == ["kept-1", "kept-2", "kept-3"]


async def test_a_unit_that_only_read_before_its_savepoint_still_rolls_back_whole(
    db: Database,
) -> None:
    """sqlite3 opens a transaction only at the first write, and a SAVEPOINT outside one
    commits at its release: the unit of work must begin first."""

    class Abort(Exception):
        pass

    try:
        async with db.unit_of_work() as uow:
            assert await uow.bridging.portal_by_rc("GENERAL") is None  # reads only, so far
            async with uow.savepoint():
                await uow.bridging.add_portal("GENERAL", "c", None, "general")
            raise Abort
    except Abort:
        pass
    async with db.unit_of_work() as uow:
        assert await uow.bridging.portal_by_rc("GENERAL") is None
