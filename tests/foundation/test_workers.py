"""The inbox and outbox workers: order, retries, skips and idempotency."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import text

from bridge.pipeline.contracts import PermanentFailure, RetryLater, SkipEvent
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.inbox import StoredEvent
from bridge.storage.outbox import Action, NewAction
from bridge.workers.inbox import InboxWorker
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.inbox import records


async def test_enqueue_is_idempotent_per_key(db: Database) -> None:
    assert await db.outbox.add(NewAction("k1", "noop", "q")) is True
    assert await db.outbox.add(NewAction("k1", "noop", "q", {"other": 1})) is False
    assert (await db.outbox.stats()).pending == 1


async def test_actions_of_one_queue_run_in_order_and_queues_in_parallel(db: Database) -> None:
    ran: list[str] = []

    async def record(action: Action) -> dict[str, Any]:
        ran.append(action.key)
        return {"ok": True}

    for key, queue in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A")]:
        await db.outbox.add(NewAction(key, "rec", queue))
    worker = OutboxWorker(db, {"rec": record})
    assert await worker.drain_once() == 2  # the heads of A and B
    assert sorted(ran) == ["a1", "b1"]
    while await worker.drain_once():
        pass
    assert [k for k in ran if k.startswith("a")] == ["a1", "a2", "a3"]
    assert (await db.outbox.get("a3") or {})["status"] == "done"


async def test_a_retrying_head_holds_back_its_queue(db: Database) -> None:
    calls: list[str] = []

    async def flaky(action: Action) -> None:
        calls.append(action.key)
        if action.key == "first":
            raise RetryLater("homeserver down", retry_after=3600)

    await db.outbox.add(NewAction("first", "flaky", "room"))
    await db.outbox.add(NewAction("second", "flaky", "room"))
    worker = OutboxWorker(db, {"flaky": flaky})
    await worker.drain_once()
    await worker.drain_once()
    assert calls == ["first"], "the second action must not overtake the first"
    first = await db.outbox.get("first")
    assert first is not None
    assert (first["status"], first["attempts"], first["last_error"]) == (
        "pending",
        1,
        "homeserver down",
    )
    # Once its time comes, it runs, and then the queue moves on.
    due = await db.outbox.due(10, now=now_ms() + 3_700_000)
    assert [a.key for a in due] == ["first"]


async def test_unknown_errors_are_retried_and_permanent_ones_recorded(db: Database) -> None:
    async def boom(action: Action) -> None:
        if action.key == "perm":
            raise PermanentFailure("room is gone")
        raise ValueError("surprise")

    await db.outbox.add(NewAction("perm", "boom", "q1"))
    await db.outbox.add(NewAction("odd", "boom", "q2"))
    await db.outbox.add(NewAction("who", "mystery", "q3"))
    await OutboxWorker(db, {"boom": boom}, base_backoff=0.01).drain_once()
    perm, odd, who = [await db.outbox.get(k) for k in ("perm", "odd", "who")]
    assert perm is not None
    assert (perm["status"], perm["last_error"], perm["dead_cause"]) == (
        "dead",
        "room is gone",
        "refused",
    )
    assert odd is not None and (odd["status"], odd["last_error"]) == (
        "pending",
        "ValueError: surprise",
    )
    assert who is not None and who["status"] == "dead" and "no executor" in who["last_error"]


async def test_on_done_commits_with_the_done_mark(db: Database) -> None:
    async def send(action: Action) -> dict[str, Any]:
        return {"event_id": "$x"}

    async def record(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        assert result == {"event_id": "$x"}
        await uow.enqueue(NewAction("follow-up", "send", "q2"))

    await db.outbox.add(NewAction("k", "send", "q"))
    await OutboxWorker(db, {"send": send}, on_done={"send": record}).drain_once()
    assert (await db.outbox.get("k") or {})["status"] == "done"
    assert await db.outbox.get("follow-up") is not None


async def test_inbox_worker_skips_bad_events_and_retries_failures(db: Database) -> None:
    seen: list[str | None] = []

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        seen.append(event.event_id)
        if event.event_id == "$bad":
            raise SkipEvent("no content")
        if event.event_id == "$flaky":
            raise RuntimeError("database hiccup")
        await uow.enqueue(NewAction(f"eff:{event.event_id}", "noop", "q"))

    await db.inbox.store_events(
        "matrix", records([{"event_id": "$bad"}, {"event_id": "$flaky"}, {"event_id": "$good"}])
    )
    worker = InboxWorker(db, handler, max_attempts=2)
    await worker.drain_once()
    assert seen == ["$bad", "$flaky", "$good"]
    assert await db.inbox.counts() == {"skipped": 1, "pending": 1, "done": 1}
    await worker.drain_once()
    assert await db.inbox.counts() == {"skipped": 1, "failed": 1, "done": 1}
    # The failed event's effects were rolled back with it.
    assert await db.outbox.get("eff:$flaky") is None
    assert await db.outbox.get("eff:$good") is not None


async def test_long_keys_fit_the_column_and_never_collide(db: Database) -> None:
    base = "mx-msg:$" + "e" * 400
    assert await db.outbox.add(NewAction(base + "1", "noop", "q")) is True
    assert await db.outbox.add(NewAction(base + "2", "noop", "q")) is True
    assert await db.outbox.add(NewAction(base + "1", "noop", "q")) is False
    assert (await db.outbox.get(base + "2") or {})["status"] == "pending"
    assert (await db.outbox.stats()).pending == 2


async def test_a_slow_action_holds_only_its_own_queue(db: Database) -> None:
    """One room's action that takes long (a file from a slow server) must not hold the
    other queues: their next actions start as soon as their previous ones finished."""
    release = asyncio.Event()
    ran: list[str] = []
    other_done = asyncio.Event()

    async def run(action: Action) -> None:
        ran.append(action.key)
        if action.key == "slow":
            await release.wait()
        if action.key == "other-2":
            other_done.set()

    await db.outbox.add(NewAction("slow", "run", "room-a"))
    for key in ("other-1", "other-2"):
        await db.outbox.add(NewAction(key, "run", "room-b"))
    worker = OutboxWorker(db, {"run": run}, idle_poll_seconds=0.05)
    task = asyncio.create_task(worker.run())
    try:
        # Bounded only so that a failure ends: the slow action is never released before.
        await asyncio.wait_for(other_done.wait(), 20)
        assert ran.count("slow") == 1 and not release.is_set()
        release.set()

        async def all_done() -> None:
            while await db.outbox.due(10):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_done(), 20)
        assert sorted(ran) == ["other-1", "other-2", "slow"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_action_that_never_returns_is_stopped_and_retried(db: Database) -> None:
    """No client timeout covers a whole action; the worker bounds it, counts an attempt,
    and the queue is free again."""

    async def hang(action: Action) -> None:
        await asyncio.Event().wait()

    await db.outbox.add(NewAction("hangs", "hang", "room"))
    worker = OutboxWorker(db, {"hang": hang}, action_timeout_s=0.1)
    assert await worker.drain_once() == 1
    async with db.sessions() as session:
        row = (
            await session.execute(
                text("SELECT status, attempts, last_error FROM outbox WHERE key = 'hangs'")
            )
        ).one()
    assert row[0] == "pending" and row[1] == 1
    assert "longer than" in row[2]
