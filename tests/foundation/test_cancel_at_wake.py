"""A worker cancelled in the same loop iteration as it is woken ends (it used to loop on:
``asyncio.wait_for`` on Python 3.11 swallows that cancellation), and the bridge's stop is
bounded however its parts behave."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.pipeline.waits import wait_set
from bridge.workers.loop import WorkerLoop


class Idle(WorkerLoop):
    name = "idle"

    def __init__(self) -> None:
        super().__init__(interval_s=30.0)
        self.rounds = 0

    async def round(self) -> bool:
        self.rounds += 1
        return False


async def test_a_worker_woken_and_cancelled_at_once_ends() -> None:
    worker = Idle()
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)  # idle, waiting to be woken
    worker.wake()
    task.cancel()  # in the same iteration: the race that was lost
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done, "the cancelled worker kept looping"
    assert task.cancelled()


async def test_the_old_wait_loses_that_cancellation() -> None:
    """The reason for wait_set: the same race, waited with asyncio.wait_for, is lost (on
    the Python this project runs on; 3.12 fixed wait_for)."""
    event = asyncio.Event()

    async def old() -> str:
        await asyncio.wait_for(event.wait(), 30)
        return "went on"

    async def new() -> str:
        await wait_set(event, 30)
        return "went on"

    for waiter, swallowed in ((old, True), (new, False)):
        event.clear()
        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        event.set()
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        assert (not task.cancelled()) is swallowed, waiter.__name__


async def test_wait_set_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 1) is True


@pytest.mark.parametrize("grace", [0.2])
async def test_stop_is_bounded_and_names_a_part_that_ignores_cancellation(
    grace: float, caplog: pytest.LogCaptureFixture
) -> None:
    from bridge.app import BridgeApp  # noqa: PLC0415 - only its stop() is exercised

    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # a part that ignores its cancellation

    app = BridgeApp.__new__(BridgeApp)
    app._tasks = [asyncio.create_task(stubborn(), name="stubborn part")]
    app.stop_grace_s = grace
    app._runner = app._metrics_runner = None
    app.rocketchat = None
    app._rc_executors = None
    app._session = None

    class Closable:
        async def close(self) -> None:
            return None

    app.locks = Closable()  # type: ignore[assignment]
    app.db = Closable()  # type: ignore[assignment]
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="bridge.app"):
        await asyncio.wait_for(app.stop(), grace + 2)
    assert app.stuck_at_stop == ["stubborn part"]
    assert "stubborn part did not end" in caplog.text and "stubborn" in caplog.text
    release.set()
    app._tasks[0].cancel()
    await asyncio.wait(app._tasks, timeout=11)
