"""Inside an outbox slot the Rocket.Chat client never sleeps past the slot's bound: a long
rate limit is handed back to the outbox as a retry at the server's reset time, instead
of a sleep that outlives the PostgreSQL claim lease and holds the room's queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bridge.pipeline.actions import Run, executor, new_action
from bridge.pipeline.kinds import RC_NOTICE, RCNotice
from bridge.rocketchat import transport
from bridge.rocketchat.errors import RCRateLimitError, RCServerError
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import Exchange, SimulatorServer
from bridge.slots import outbox_slot
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.rocketchat import sim_control


@pytest_asyncio.fixture
async def admin(rc_sim: SimulatorServer) -> AsyncIterator[RCRestClient]:
    """The bridge's admin client as the bridge builds it: the default, patient policy."""
    async with RCRestClient.with_token(
        rc_sim.url, rc_sim.bot.id, rc_sim.config.bot_token
    ) as client:
        yield client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What the transport sleeps, recorded instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(transport.asyncio, "sleep", sleep)
    return slept


async def test_a_long_rate_limit_becomes_a_durable_retry_not_a_sleep(
    rc_sim: SimulatorServer, admin: RCRestClient, db: Database, sleeps: list[float]
) -> None:
    await sim_control(rc_sim, "faults", {"status": 429, "count": 1, "reset_ms": 120_000})

    async def me(_action: Run[RCNotice]) -> None:
        await admin.me()

    await db.outbox.add(new_action(RCNotice("room", "hi"), key="k", queue="rc:room"))
    before = now_ms()
    guarded = RocketChatExecutors._guard(executor(RCNotice, me))  # noqa: SLF001
    worker = OutboxWorker(db, {RC_NOTICE: guarded})
    await worker.drain_once()
    assert sleeps == [], "nothing slept inside the slot"
    row = await db.outbox.get("k")
    assert row is not None and row["status"] == "pending"
    assert (row["attempts"], row["last_error"]) == (0, "Rocket.Chat rate limit")
    due = await db.outbox.due(10, now=before + 100_000)
    assert due == [], "retried at the server's reset time, about two minutes later"
    assert [a.key for a in await db.outbox.due(10, now=before + 125_000)] == ["k"]


async def test_outside_a_slot_the_client_keeps_its_patience(
    rc_sim: SimulatorServer, admin: RCRestClient, sleeps: list[float]
) -> None:
    await sim_control(rc_sim, "faults", {"status": 429, "count": 1, "reset_ms": 60_000})
    assert (await admin.me()).username == "bridge.bot"
    assert len(sleeps) == 1 and 50 < sleeps[0] <= 60


async def test_server_errors_sleep_at_most_the_slot_bound(
    rc_sim: SimulatorServer, admin: RCRestClient, sleeps: list[float]
) -> None:
    await sim_control(rc_sim, "faults", {"status": 500, "count": 10})
    with outbox_slot(0.5), pytest.raises(RCServerError):
        await admin.me()
    assert sum(sleeps) <= 0.5
    with outbox_slot(0.5), pytest.raises(RCRateLimitError):
        await sim_control(rc_sim, "faults", {"status": 429, "count": 1, "reset_ms": 2_000})
        await admin.me()


async def test_an_action_run_before_the_bridge_logged_in_waits_for_the_login(
    rc_sim: SimulatorServer,
    db: Database,
    rc_exchanges: list[Exchange],
    rc_invalid_requests: list[Exchange],
) -> None:
    """Right after a restart the outbox may run an action before the admin client's login
    finished: Rocket.Chat answers 401, which is no fault of the action (it used to be
    refused for good, leaving an erasure partially done)."""
    async with RCRestClient(rc_sim.url) as not_logged_in:

        async def delete(_action: Run[RCNotice]) -> None:
            await not_logged_in.me()

        queued = new_action(RCNotice("room", "hi"), key="k", queue="rc-erasure:room")
        await db.outbox.add(queued)
        guarded = RocketChatExecutors._guard(executor(RCNotice, delete))  # noqa: SLF001
        worker = OutboxWorker(db, {RC_NOTICE: guarded})
        await worker.drain_once()
    rc_invalid_requests.extend(rc_exchanges)  # no auth headers yet, on purpose
    row = await db.outbox.get("k")
    assert row is not None and (row["status"], row["attempts"]) == ("pending", 0)
    assert "did not accept the bridge's login" in row["last_error"]
