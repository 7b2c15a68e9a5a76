"""The one backoff and the one worker loop every background worker runs on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.pipeline.backoff import Backoff
from bridge.workers import loop
from bridge.workers.loop import WorkerLoop


def test_the_backoff_doubles_from_its_base_up_to_its_cap() -> None:
    b = Backoff(0.5, 30.0, jitter=False)
    assert [b.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert b.delay(10_000) == 30.0, "a long outage stays at the cap, never overflows"


def test_the_jitter_waits_between_half_the_ceiling_and_the_ceiling() -> None:
    b = Backoff(1.0, 60.0)
    for failures in (1, 3, 7, 20):
        delays = {b.delay(failures) for _ in range(200)}
        ceiling = b.ceiling(failures)
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "things that failed together do not retry in lockstep"


class Rounds(WorkerLoop):
    name = "Test"

    def __init__(self, outcomes: list[bool | Exception], interval_s: float = 60.0) -> None:
        super().__init__(interval_s=interval_s)
        self.outcomes = outcomes
        self.ran = 0
        self.released = False

    async def round(self) -> bool:
        self.ran += 1
        outcome = self.outcomes.pop(0) if self.outcomes else False
        if isinstance(outcome, Exception):
            raise outcome
        if not self.outcomes:
            self.stop()
        return outcome

    async def stopped(self) -> None:
        self.released = True


async def test_a_busy_round_is_followed_at_once_and_stop_ends_the_loop() -> None:
    worker = Rounds([True, True, False])
    await asyncio.wait_for(worker.run(), 1.0)  # the 60 s interval is never waited
    assert worker.ran == 3 and worker.released


async def test_wake_cuts_the_wait_between_rounds_short() -> None:
    worker = Rounds([False, False])
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    assert worker.ran == 1, "idle: waiting out the 60 s interval"
    worker.wake()
    await asyncio.wait_for(task, 1.0)
    assert worker.ran == 2


async def test_a_failing_round_is_logged_and_retried_after_the_backoff(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    waited: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(loop.asyncio, "sleep", sleep)
    worker = Rounds([RuntimeError("database away"), RuntimeError("still away"), False])
    with caplog.at_level(logging.ERROR, logger=loop.__name__):
        await asyncio.wait_for(worker.run(), 1.0)
    assert worker.ran == 3 and worker.failures == 0, "alive, and reset by the good round"
    assert len(waited) == 2 and waited[0] <= loop.ROUND_BACKOFF.ceiling(1)
    assert loop.ROUND_BACKOFF.ceiling(2) / 2 <= waited[1] <= loop.ROUND_BACKOFF.ceiling(2)
    assert "Test round failed (2 in a row)" in caplog.text


async def test_cancelling_the_loop_lets_go_of_what_it_runs() -> None:
    worker = Rounds([False, False])
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.released
