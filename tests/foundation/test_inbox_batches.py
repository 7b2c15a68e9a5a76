"""The inbox worker handles a batch of events per transaction, each in a savepoint of its
own: one bad event spoils nothing else, and a room's order holds."""

from __future__ import annotations

from sqlalchemy import text

from bridge.pipeline.contracts import SkipEvent
from bridge.storage.bridging import BridgedMessage, Shadow
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.inbox import NewInboxEvent, StoredEvent
from bridge.storage.outbox import NewAction
from bridge.workers.inbox import InboxWorker
from tests.fixtures.databases import TEST_PSEUDONYM_KEY
from tests.fixtures.inbox import records


def _events(*spec: tuple[str, str | None]) -> list[NewInboxEvent]:
    return records({"event_id": e, "room_id": r, "type": "m.room.message"} for e, r in spec)


async def _statuses(db: Database) -> dict[str, tuple[str, int]]:
    async with db.sessions() as session:
        rows = await session.execute(text("SELECT event_id, status, attempts FROM inbox_event"))
        return {r.event_id: (r.status, r.attempts) for r in rows}


async def test_a_bad_event_in_the_middle_of_a_batch_spoils_nothing_else(db: Database) -> None:
    units: set[int] = set()

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        units.add(id(uow))
        name = event.event_id or ""
        await uow.enqueue(NewAction(f"eff:{name}", "noop", f"q:{name}"))
        await uow.bridging.save_shadow(Shadow(f"@{name}:hs2.test", None, name, None, None))
        if name == "$skipped":
            raise SkipEvent("not for the bridge")
        if name == "$bad":
            raise ValueError("a handler's bug")

    await db.inbox.store_events(
        "matrix",
        _events(("$a", "!a"), ("$bad", "!b"), ("$skipped", "!c"), ("$d", "!d")),
    )
    assert await InboxWorker(db, handler, max_attempts=3).drain_once() == 4
    assert len(units) == 1, "one transaction for the whole batch"
    assert await _statuses(db) == {
        "$a": ("done", 0),
        "$bad": ("pending", 1),
        "$skipped": ("skipped", 0),
        "$d": ("done", 0),
    }
    for name, kept in (("$a", True), ("$bad", False), ("$skipped", True), ("$d", True)):
        assert (await db.outbox.get(f"eff:{name}") is not None) is kept, name
        async with db.unit_of_work() as uow:
            assert (await uow.bridging.shadow(f"@{name}:hs2.test") is not None) is kept, name


async def test_a_database_error_inside_one_handler_is_that_events_alone(db: Database) -> None:
    """On PostgreSQL a failed statement aborts the whole transaction unless a savepoint
    holds it: the other events of the batch must still commit. The refused row is one the
    event held back (storage.write_buffer): the batch's commit fails on it, and the batch
    runs again with each event's rows written in its own savepoint."""

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        await uow.enqueue(NewAction(f"eff:{event.event_id}", "noop", "q"))
        if event.event_id == "$clash":
            await uow.bridging.add_portal("GENERAL", "c", None, "general")
            # A map row of a portal that does not exist: the foreign key refuses it.
            await uow.bridging.add_message(BridgedMessage(999_999, "m", 0, "$x", "rc", "u", 1))

    await db.inbox.store_events("matrix", _events(("$1", "!r"), ("$clash", "!s"), ("$3", "!t")))
    await InboxWorker(db, handler).drain_once()
    assert await _statuses(db) == {
        "$1": ("done", 0),
        "$clash": ("pending", 1),
        "$3": ("done", 0),
    }
    assert await db.outbox.get("eff:$clash") is None
    assert await db.outbox.get("eff:$3") is not None
    async with db.unit_of_work() as uow:
        assert await uow.bridging.portal_by_rc("GENERAL") is None


async def test_a_rooms_order_holds_past_a_failure_and_other_rooms_go_on(db: Database) -> None:
    handled: list[str] = []
    fail_once = {"$a2"}

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        name = event.event_id or ""
        if name in fail_once:
            fail_once.discard(name)
            raise RuntimeError("not yet")
        handled.append(name)

    await db.inbox.store_events(
        "matrix",
        _events(("$a1", "!a"), ("$b1", "!b"), ("$a2", "!a"), ("$b2", "!b"), ("$a3", "!a")),
    )
    worker = InboxWorker(db, handler)
    assert await worker.drain_once() == 4  # $a3 waits behind $a2, which failed
    assert handled == ["$a1", "$b1", "$b2"]
    await worker.drain_once()
    assert handled == ["$a1", "$b1", "$b2", "$a2", "$a3"]
    assert {s for s, _ in (await _statuses(db)).values()} == {"done"}


async def test_a_batch_leaves_out_a_room_whose_head_another_process_holds(
    db: Database, db_url: str
) -> None:
    """PostgreSQL: the head of room !a is locked by another process's batch; this one
    takes the other rooms and none of !a's later events."""
    if db.engine.dialect.name != "postgresql":
        # One process on SQLite: a claim takes every room's run of events.
        await db.inbox.store_events("matrix", _events(("$a1", "!a"), ("$a2", "!a")))
        async with db.unit_of_work() as uow:
            batch = await uow.claim_inbox_batch(10)
        assert [e.event_id for e in batch] == ["$a1", "$a2"]
        return
    other = Database(db_url, pseudonym_key=TEST_PSEUDONYM_KEY)
    try:
        await db.inbox.store_events(
            "matrix", _events(("$a1", "!a"), ("$b1", "!b"), ("$a2", "!a"), ("$n", None))
        )
        async with other.unit_of_work() as holder:
            held = await holder.claim_inbox_batch(1)
            assert [e.event_id for e in held] == ["$a1"]
            async with db.unit_of_work() as uow:
                batch = await uow.claim_inbox_batch(10)
            assert [e.event_id for e in batch] == ["$b1", "$n"]
    finally:
        await other.close()
