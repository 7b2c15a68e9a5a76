"""The retry budget: an action that keeps failing becomes a dead letter and its queue
moves on; outages and waits spend only the age budget; the death commits with its hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridge.app import build_metrics_app
from bridge.config.load import load_config
from bridge.metrics import OUTBOX_DIED
from bridge.pipeline.contracts import RetryLater, Unavailable, Waiting
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import HOUR_MS, OutboxWorker, RetryBudget
from tests.fixtures.bridge_config import write_config

START = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


async def drain(worker: OutboxWorker, clock: Clock, rounds: int, step_ms: int) -> None:
    """Run ``rounds`` rounds, moving the clock past any backoff between them."""
    for _ in range(rounds):
        await worker.drain_once()
        clock.now += step_ms


@pytest.mark.parametrize("error", [RetryLater("homeserver said no"), ValueError("surprise")])
async def test_a_failing_head_dies_after_its_attempts_and_its_queue_moves_on(
    db: Database, error: Exception
) -> None:
    ran: list[str] = []

    async def run(action: Action) -> dict[str, Any]:
        ran.append(action.key)
        if action.key == "poison":
            raise error
        return {"ok": True}

    for key in ("poison", "second", "third"):
        await db.outbox.add(NewAction(key, "send", "room"))
    clock = Clock()
    worker = OutboxWorker(db, {"send": run}, budget=RetryBudget(3, 24 * HOUR_MS), clock=clock)
    await drain(worker, clock, rounds=8, step_ms=61_000)
    assert ran == ["poison", "poison", "poison", "second", "third"]
    poison = await db.outbox.get("poison")
    assert poison is not None
    assert (poison["status"], poison["attempts"], poison["dead_cause"]) == ("dead", 3, "attempts")
    assert poison["last_error"].endswith("surprise") or poison["last_error"] == "homeserver said no"
    for key in ("second", "third"):
        assert (await db.outbox.get(key) or {})["status"] == "done"
    stats = await db.outbox.stats()
    assert (stats.pending, stats.dead, stats.dead_by_kind) == (0, 1, {"send": 1})


async def test_a_head_that_keeps_failing_slowly_dies_of_age(db: Database) -> None:
    """Few attempts, a long time: a rate limit of an hour each time, for a day."""
    ran: list[str] = []

    async def run(action: Action) -> None:
        ran.append(action.key)
        if action.key == "slow":
            raise RetryLater("rate limited", retry_after=3600)

    await db.outbox.add(NewAction("slow", "send", "room"))
    await db.outbox.add(NewAction("next", "send", "room"))
    clock = Clock()
    worker = OutboxWorker(db, {"send": run}, budget=RetryBudget(100, 24 * HOUR_MS), clock=clock)
    await drain(worker, clock, rounds=24, step_ms=HOUR_MS + 1)
    slow = await db.outbox.get("slow")
    assert slow is not None and slow["status"] == "pending", "23 hours: still within the budget"
    await drain(worker, clock, rounds=3, step_ms=HOUR_MS + 1)
    slow = await db.outbox.get("slow")
    assert slow is not None and (slow["status"], slow["dead_cause"]) == ("dead", "age")
    assert slow["attempts"] == 25
    assert ran[-1] == "next" and (await db.outbox.get("next") or {})["status"] == "done"


@pytest.mark.parametrize("wait", [Unavailable("homeserver unreachable"), Waiting("redactions")])
async def test_outages_and_waits_spend_the_age_budget_not_attempts(
    db: Database, wait: RetryLater
) -> None:
    async def run(action: Action) -> None:
        raise wait

    await db.outbox.add(NewAction("patient", "send", "room"))
    clock = Clock()
    worker = OutboxWorker(db, {"send": run}, budget=RetryBudget(3, 2 * HOUR_MS), clock=clock)
    await drain(worker, clock, rounds=100, step_ms=61_000)  # 101 minutes of outage
    patient = await db.outbox.get("patient")
    assert patient is not None and (patient["status"], patient["attempts"]) == ("pending", 0)
    await drain(worker, clock, rounds=30, step_ms=61_000)
    patient = await db.outbox.get("patient")
    assert patient is not None and (patient["status"], patient["dead_cause"]) == ("dead", "age")


async def test_a_success_after_failures_runs_the_rest_in_order(db: Database) -> None:
    """Ordering within a queue holds for the actions that succeed."""
    ran: list[str] = []
    failures = {"a1": 2, "a3": 99}

    async def run(action: Action) -> None:
        if failures.get(action.key, 0) > 0:
            failures[action.key] -= 1
            raise RetryLater("flaky")
        ran.append(action.key)

    for key in ("a1", "a2", "a3", "a4", "a5"):
        await db.outbox.add(NewAction(key, "send", "room"))
    clock = Clock()
    worker = OutboxWorker(db, {"send": run}, budget=RetryBudget(4, 24 * HOUR_MS), clock=clock)
    await drain(worker, clock, rounds=12, step_ms=61_000)
    assert ran == ["a1", "a2", "a4", "a5"]
    assert (await db.outbox.get("a1") or {})["status"] == "done"
    assert (await db.outbox.get("a3") or {})["status"] == "dead"


async def test_the_death_commits_with_its_hook_or_not_at_all(db: Database) -> None:
    calls: list[str] = []

    async def run(action: Action) -> None:
        raise RetryLater("nope")

    async def notify(uow: UnitOfWork, action: Action, error: str) -> None:
        calls.append(error)
        await uow.enqueue(NewAction(f"notice:{action.key}", "notice", "reply"))
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    await db.outbox.add(NewAction("k", "send", "room"))
    clock = Clock()
    worker = OutboxWorker(
        db, {"send": run}, on_dead={"send": notify}, budget=RetryBudget(1), clock=clock
    )
    before = OUTBOX_DIED.labels("send")._value.get()
    await drain(worker, clock, rounds=1, step_ms=61_000)
    assert (await db.outbox.get("k") or {})["status"] == "pending"
    assert await db.outbox.get("notice:k") is None, "rolled back with the failed death"
    await drain(worker, clock, rounds=1, step_ms=61_000)
    assert (await db.outbox.get("k") or {})["status"] == "dead"
    assert await db.outbox.get("notice:k") is not None
    assert OUTBOX_DIED.labels("send")._value.get() == before + 1


async def test_metrics_show_dead_letters_by_kind(db: Database, tmp_path: Path) -> None:
    async def run(action: Action) -> None:
        raise RetryLater("nope")

    await db.outbox.add(NewAction("k1", "rc.send", "rc:room"))
    await db.outbox.add(NewAction("k2", "matrix.send", "matrix:1"))
    await db.outbox.add(NewAction("k3", "matrix.send", "matrix:2"))
    clock = Clock()
    executors = {"rc.send": run, "matrix.send": run}
    worker = OutboxWorker(db, executors, budget=RetryBudget(1), clock=clock)
    await drain(worker, clock, rounds=1, step_ms=1)
    token = "metrics-token-for-tests-0123456789"  # noqa: S105
    config = load_config(
        write_config(
            tmp_path / "config.yaml", database={"url": db.url}, metrics={"bearer_token": token}
        )
    )
    async with TestClient(TestServer(build_metrics_app(config, db))) as client:
        auth = {"Authorization": f"Bearer {token}"}
        text = await (await client.get("/metrics", headers=auth)).text()
    assert 'bridge_outbox_dead_letters{kind="matrix.send"} 2.0' in text
    assert 'bridge_outbox_dead_letters{kind="rc.send"} 1.0' in text
    assert "bridge_outbox_failed_actions 3.0" in text
    assert 'bridge_outbox_actions_died_total{kind="matrix.send"}' in text
