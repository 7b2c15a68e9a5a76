"""Outages, restarts, rate limits and bursts: nothing lost, nothing duplicated, order kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import text as sql

from bridge.ids import RCMessageID, RCRoomID
from bridge.rocketchat.errors import RCRateLimitError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.workers.dead_letters import DeadLetters
from bridge.workers.outbox import RetryBudget
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def pair(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> AsyncIterator[tuple[Portal, RCRestClient, MatrixView, MatrixView]]:
    carol = await bridge_stack.rc_user()
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    try:
        yield room, carol, *views
    finally:
        for view in views:
            await view.close()


async def _sim_faults(stack: BridgeStack, body: dict[str, object]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.sim.url}/_sim/faults", json=body) as resp,
    ):
        assert resp.status == 200


async def _rc_texts(carol: RCRestClient, room: Portal, prefix: str) -> list[str]:
    try:
        history = await rc_history(carol, room.rc_room_id)
    except RCRateLimitError:
        return []  # the storm hits the test's own reads too; look again later
    return [m.text for m in history if m.text.startswith(prefix)]


async def _matrix_bodies(view: MatrixView, room: Portal, prefix: str) -> list[str]:
    return [
        str(e["content"].get("body"))
        for e in await view.timeline(room.matrix_room_id, limit=500)
        if e["type"] == "m.room.message" and str(e["content"].get("body", "")).startswith(prefix)
    ]


async def _retried(stack: BridgeStack, room: Portal | None) -> bool:
    """Whether any action (bound for this Rocket.Chat room, if given) was retried, so the
    injected fault really hit the bridge (which action it hits depends on timing). An
    outage spends no attempts (docs/outbox.md), but marks when the failures began."""
    where = "(attempts > 0 OR first_failed_ms IS NOT NULL)"
    if room is not None:
        where += " AND queue = :q"
    async with stack.app.db.engine.connect() as conn:
        retried = await conn.scalar(
            sql(f"SELECT count(*) FROM outbox WHERE {where}"),  # noqa: S608 - fixed text
            {"q": f"rc:{room.rc_room_id}" if room else ""},
        )
    return bool(retried)


async def _all_arrived(
    read: Callable[[], Awaitable[list[str]]], expected: list[str], timeout: float
) -> list[str]:
    async def complete() -> list[str] | None:
        got = await read()
        return got if len(got) >= len(expected) else None

    return await wait_for(complete, timeout)


async def test_rocketchat_outage_during_a_burst_loses_and_duplicates_nothing(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    room, carol, alice, _ = pair
    expected = [f"burst {i:02d}" for i in range(50)]
    bridge_stack.sim.schedule_outage(30)
    await asyncio.sleep(0.2)
    for text in expected:
        await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": text})
    await bridge_stack.sim.wait_until_up()

    got = await _all_arrived(lambda: _rc_texts(carol, room, "burst "), expected, 120)
    await asyncio.sleep(1)  # a late duplicate would show up now
    assert await _rc_texts(carol, room, "burst ") == expected == got
    assert await _retried(bridge_stack, room), "no outage seen"


async def test_bridge_restart_catches_up_on_what_rocketchat_did_meanwhile(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    room, carol, _, bob = pair
    rid = RCRoomID(room.rc_room_id)
    kept = await carol.post_message(rid, "restart: before")
    doomed = await carol.post_message(rid, "restart: doomed")
    await _all_arrived(lambda: _matrix_bodies(bob, room, "restart:"), ["a", "b"], 30)

    await bridge_stack.app.stop()
    try:
        await carol.post_message(rid, "restart: while away 1")
        await carol.update_message(rid, RCMessageID(kept.id), "restart: before (edited)")
        await carol.delete_message(rid, RCMessageID(doomed.id))
        await carol.post_message(rid, "restart: while away 2")
    finally:
        await bridge_stack.restart()

    async def caught_up() -> bool:
        events = await bob.timeline(room.matrix_room_id, limit=500)
        bodies = [e["content"].get("body") for e in events if e["type"] == "m.room.message"]
        edits = [
            e["content"]["m.new_content"]["body"]
            for e in events
            if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
        ]
        doomed_gone = not any(b == "restart: doomed" for b in bodies)
        return (
            bodies.count("restart: while away 1") == 1
            and bodies.count("restart: while away 2") == 1
            and "restart: before (edited)" in edits
            and doomed_gone
        )

    assert await wait_for(caught_up, 60)


async def test_a_429_storm_is_ridden_out(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    room, carol, alice, _ = pair
    expected = [f"storm {i:02d}" for i in range(10)]
    # Each reset is longer than an outbox slot may sleep (5 s, bridge/slots.py), so a 429
    # met inside an action becomes a durable retry instead of a wait in the transport.
    await _sim_faults(bridge_stack, {"status": 429, "count": 8, "reset_ms": 5_500})
    for text in expected:
        await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": text})
    await _all_arrived(lambda: _rc_texts(carol, room, "storm "), expected, 90)
    await asyncio.sleep(1)
    assert await _rc_texts(carol, room, "storm ") == expected
    assert await _retried(bridge_stack, None), "no 429 hit the bridge"


async def test_organisations_homeserver_restart_loses_nothing(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    room, carol, alice, bob = pair
    rid = RCRoomID(room.rc_room_id)
    await carol.post_message(rid, "hs restart: 0")
    await _all_arrived(lambda: _matrix_bodies(bob, room, "hs restart:"), ["0"], 30)

    await bridge_stack.homeservers.stop_homeserver(0)
    try:
        for i in range(1, 4):
            await carol.post_message(rid, f"hs restart: {i}")
    finally:
        await bridge_stack.homeservers.start_homeserver(0)
        await bridge_stack.homeservers.reset_connections(0)
    # Synapse on SQLite restarts appservice transaction ids at 1 (docs/synapse-notes.md, Transaction
    # ids); these events
    # reuse ids the bridge has seen and must still be processed.
    for i in range(4, 7):
        await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": f"hs restart: {i}"})

    expected = [f"hs restart: {i}" for i in range(7)]
    got = await _all_arrived(lambda: _matrix_bodies(bob, room, "hs restart:"), expected, 120)
    assert sorted(got) == expected
    rc_side = await _all_arrived(lambda: _rc_texts(carol, room, "hs restart:"), expected, 60)
    assert sorted(rc_side) == expected


async def test_two_hundred_messages_reach_every_homeserver_in_order(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    room, carol, alice, bob = pair
    rid = RCRoomID(room.rc_room_id)
    expected = [f"flood {i:03d}" for i in range(200)]
    for text in expected:  # as fast as Rocket.Chat accepts them
        await carol.post_message(rid, text)
    for view in (alice, bob):
        got = await _all_arrived(lambda v=view: _matrix_bodies(v, room, "flood "), expected, 180)
        assert got == expected


async def test_a_message_that_rocketchat_keeps_failing_becomes_a_dead_letter_with_a_notice(
    bridge_stack: BridgeStack, pair: tuple[Portal, RCRestClient, MatrixView, MatrixView]
) -> None:
    """Its sender is told in the room, the room's queue moves on, and the operator sees it."""
    room, carol, alice, _ = pair
    await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": "dl warm up"})
    await _all_arrived(lambda: _rc_texts(carol, room, "dl "), ["dl warm up"], 60)
    worker = bridge_stack.app.outbox_worker
    budget, worker.budget = worker.budget, RetryBudget(max_attempts=1)
    try:
        await _sim_faults(bridge_stack, {"status": 500, "count": 40})
        await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": "dl doomed"})

        async def notice() -> str | None:
            for e in await alice.messages(room.matrix_room_id):
                body = str(e["content"].get("body", ""))
                if e["content"].get("msgtype") == "m.notice" and "could not be delivered" in body:
                    return body
            return None

        text = await wait_for(notice, 60)
    finally:
        await _sim_faults(bridge_stack, {"status": 500, "count": 0})
        worker.budget = budget
    assert text.startswith("A message sent here at ") and "to Rocket.Chat" in text
    assert "doomed" not in text
    await alice.send(room.matrix_room_id, {"msgtype": "m.text", "body": "dl after"})
    await _all_arrived(lambda: _rc_texts(carol, room, "dl "), ["dl warm up", "dl after"], 60)
    assert await _rc_texts(carol, room, "dl ") == ["dl warm up", "dl after"]
    letters = await DeadLetters(bridge_stack.app.db).list()
    dead = [x for x in letters if x.kind == "rc.send"]
    assert dead and dead[0].cause == "attempts" and "500" in (dead[0].last_error or "")
