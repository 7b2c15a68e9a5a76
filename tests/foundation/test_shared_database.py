"""Inbox and outbox workers of several processes on one database (docs/architecture.md).

On PostgreSQL a second ``Database`` stands for a second process. SQLite serves one
process; there the same calls keep their single-process meaning, which is checked too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from bridge.storage.database import Database, UnitOfWork
from bridge.storage.inbox import DONE, NewInboxEvent, StoredEvent
from bridge.storage.outbox import Action, NewAction
from bridge.workers.inbox import InboxWorker
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.bridge_stack import wait_for
from tests.fixtures.databases import keyed_database
from tests.fixtures.inbox import records


def _postgres(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def _events(*spec: tuple[str, str | None]) -> list[NewInboxEvent]:
    return records({"event_id": e, "room_id": r, "type": "m.room.message"} for e, r in spec)


async def _claim(db: Database, passed: list[int] | None = None) -> str | None:
    async with db.unit_of_work() as uow:
        event = await uow.claim_inbox_event(passed or [])
    return None if event is None else event.event_id


async def test_a_room_waits_while_its_head_is_handled_elsewhere(db: Database, db_url: str) -> None:
    await db.inbox.store_events("matrix", _events(("$r1", "!r"), ("$r2", "!r"), ("$s1", "!s")))
    if not _postgres(db):
        # The head rule alone: with $r1 passed over (it failed), $r2 is not taken.
        async with db.unit_of_work() as uow:
            first = await uow.claim_inbox_event()
            assert first is not None and first.event_id == "$r1"
            second = await uow.claim_inbox_event([first.id])
            assert second is not None and second.event_id == "$s1"
            assert await uow.claim_inbox_event([first.id, second.id]) is None
        return
    other = keyed_database(db_url)
    try:
        async with db.unit_of_work() as uow:
            head = await uow.claim_inbox_event()  # this process handles $r1 ...
            assert head is not None and head.event_id == "$r1"
            # ... so the other takes $s1, never $r2 (it would overtake $r1) nor $r1.
            async with other.unit_of_work() as other_uow:
                taken = await other_uow.claim_inbox_event()
                assert taken is not None and taken.event_id == "$s1"
                assert await other_uow.claim_inbox_event([taken.id]) is None
                await other_uow.finish_inbox_event(taken.id, DONE)
            await uow.finish_inbox_event(head.id, DONE)
        assert await _claim(other) == "$r2"  # $r1 is done: $r2 is its room's head now
    finally:
        await other.close()


async def test_an_event_whose_handling_died_is_taken_up_again(db: Database, db_url: str) -> None:
    """A process killed mid-event: its transaction never commits, and its lock goes with
    its connection, so the next process (or the next round) takes the event up."""
    await db.inbox.store_events("matrix", _events(("$r1", "!r"), ("$r2", "!r")))
    other = keyed_database(db_url) if _postgres(db) else db
    try:
        taken: StoredEvent | None = None
        try:
            async with db.unit_of_work() as uow:
                taken = await uow.claim_inbox_event()
                await uow.finish_inbox_event(taken.id if taken else 0, DONE)
                raise ConnectionResetError("the process died here")
        except ConnectionResetError:
            pass
        assert taken is not None and taken.event_id == "$r1"
        handled: list[str | None] = []

        async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
            handled.append(event.event_id)

        assert await InboxWorker(other, handler).drain_once() == 2
        assert handled == ["$r1", "$r2"]
    finally:
        if other is not db:
            await other.close()


async def test_a_failing_head_holds_back_its_room_only(db: Database) -> None:
    handled: list[str | None] = []

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        if event.event_id == "$r1":
            raise RuntimeError("not yet")
        handled.append(event.event_id)

    await db.inbox.store_events("matrix", _events(("$r1", "!r"), ("$r2", "!r"), ("$s1", "!s")))
    worker = InboxWorker(db, handler, max_attempts=2)
    assert await worker.drain_once() == 2  # $r1 failed, $s1 handled, $r2 waits
    assert handled == ["$s1"]
    assert await worker.drain_once() == 2  # $r1 fails again and is given up; then $r2
    assert handled == ["$s1", "$r2"]
    assert await db.inbox.counts() == {"done": 2, "failed": 1}


async def _claimed_until(db: Database, key: str) -> int | None:
    async with db.sessions() as session:
        value = await session.scalar(
            text("SELECT claimed_until_ms FROM outbox WHERE key = :k"), {"k": key}
        )
    return None if value is None else int(value)


async def test_a_running_action_keeps_its_claim_and_a_dead_workers_claim_runs_out(
    db: Database, db_url: str
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(action: Action) -> None:
        started.set()
        await release.wait()

    db.outbox.lease_ms = 2_000
    await db.outbox.add(NewAction("slow", "slow", "q"))
    worker = OutboxWorker(db, {"slow": slow})
    running = asyncio.create_task(worker.drain_once())
    other = keyed_database(db_url) if _postgres(db) else None
    try:
        async with asyncio.timeout(20):
            await started.wait()
        if other is not None:
            first = await _claimed_until(db, "slow")
            assert first is not None
            seen = {first}

            async def renewed_twice() -> bool:
                # Meanwhile, no other process may take it: its claim is kept.
                assert await other.outbox.due(10) == []
                seen.add(await _claimed_until(db, "slow") or 0)
                return len(seen) >= 3

            await wait_for(renewed_twice, 20)
        else:
            assert await _claimed_until(db, "slow") is None  # SQLite: one worker, no claims
        release.set()
        assert await running == 1
        assert (await db.outbox.get("slow") or {})["status"] == "done"
        assert await _claimed_until(db, "slow") is None
        if other is None:
            return
        # A worker that claims an action and dies never renews it: after the lease,
        # another process takes it up.
        await db.outbox.add(NewAction("orphan", "slow", "q2"))
        assert [a.key for a in await db.outbox.due(10)] == ["orphan"]
        assert await other.outbox.due(10) == []

        async def taken_up() -> list[Action]:
            return await other.outbox.due(10)

        assert [a.key for a in await wait_for(taken_up, 20)] == ["orphan"]
    finally:
        release.set()
        await asyncio.gather(running, return_exceptions=True)
        if other is not None:
            await other.close()


async def test_bringing_retries_forward_leaves_a_claimed_action_alone(db: Database) -> None:
    await db.outbox.add(NewAction("rc:running", "k", "rc:room1"))
    await db.outbox.add(NewAction("rc:waiting", "k", "rc:room2"))
    claimed = await db.outbox.due(10)
    waiting = next(a for a in claimed if a.key == "rc:waiting")
    await db.outbox.retry_later(waiting.id, "Rocket.Chat away", 2**62, uses_attempt=False)
    assert await db.outbox.retry_now("rc:") == 1  # the backoff only
    due = [a.key for a in await db.outbox.due(10)]
    # PostgreSQL: rc:running is still claimed by the worker running it.
    assert due == (["rc:waiting"] if _postgres(db) else ["rc:running", "rc:waiting"])


async def test_an_action_recorded_by_another_worker_is_not_recorded_twice(db: Database) -> None:
    """Two workers ran the same action (the first one's claim ran out while it stalled):
    the effect is deduplicated by the protocol, and its records are written once."""
    stalled = asyncio.Event()
    go_on = asyncio.Event()
    records: list[str] = []

    async def send(action: Action) -> dict[str, Any]:
        if not stalled.is_set():
            stalled.set()
            await go_on.wait()
        return {"sent": True}

    async def record(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        records.append(action.key)
        await uow.enqueue(NewAction(f"after:{len(records)}", "noop", "q2"))

    await db.outbox.add(NewAction("k", "send", "q"))
    first = OutboxWorker(db, {"send": send}, on_done={"send": record})
    second = OutboxWorker(db, {"send": send}, on_done={"send": record})
    run = asyncio.create_task(first.drain_once())
    try:
        async with asyncio.timeout(20):
            await stalled.wait()
        async with db.sessions.begin() as session:  # the claim ran out
            await session.execute(text("UPDATE outbox SET claimed_until_ms = 0"))
        assert await second.drain_once() == 1
        go_on.set()
        await run
    finally:
        go_on.set()
        await asyncio.gather(run, return_exceptions=True)
    assert records == ["k", "k"]  # the first's hook ran, and was rolled back
    assert await db.outbox.get("after:1") is not None
    assert await db.outbox.get("after:2") is None
    assert (await db.outbox.get("k") or {})["status"] == "done"
