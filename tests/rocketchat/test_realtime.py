"""Realtime intake: stream events, reconnect and catch-up across simulator restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bridge.bridging.identities import Identities
from bridge.ids import RCMessageID, RCRoomID, RCUsername
from bridge.rctypes.events import (
    EventSource,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessagesPruned,
    RCEvent,
)
from bridge.rocketchat.cursor import InMemoryCursorStore
from bridge.rocketchat.echoes import OwnEchoes
from bridge.rocketchat.realtime import EventQueue, RealtimeListener, RealtimeOptions
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.app import SimulatorServer
from tests.fixtures.rocketchat import sim_control

FAST = RealtimeOptions(
    reconnect_base=0.05,
    reconnect_max=0.2,
    ping_interval=0.5,
    call_timeout=5,
    echo_cursor_seconds=0.05,
)


class Collector:
    """Sink that records every event and lets a test wait for one that matches."""

    def __init__(self) -> None:
        self.events: list[RCEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: RCEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[RCEvent], bool], timeout: float = 10) -> RCEvent:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()


@pytest.fixture
async def room(rc_bot: RCRestClient, rc_admin: RCRestClient) -> RCRoomID:
    created = await rc_bot.room_create("channels", "bridged", members=["admin"])
    return created.id


@pytest.fixture
async def listener(
    rc_bot: RCRestClient, room: RCRoomID
) -> AsyncIterator[tuple[RealtimeListener, Collector, InMemoryCursorStore]]:
    sink = Collector()
    cursors = InMemoryCursorStore()
    rt = RealtimeListener(rc_bot, sink, cursors, options=FAST)
    await rt.add_room(room)
    rt.start()
    async with asyncio.timeout(10):
        await rt.connected.wait()
    yield rt, sink, cursors
    await rt.stop()


def posted(msg_id: str) -> Callable[[RCEvent], bool]:
    return lambda e: isinstance(e, MessagePosted) and e.message.id == msg_id


def deleted(msg_id: str) -> Callable[[RCEvent], bool]:
    return lambda e: isinstance(e, MessageDeleted) and e.message_id == msg_id


async def test_live_events_post_edit_react_delete(
    listener: tuple[RealtimeListener, Collector, InMemoryCursorStore],
    rc_admin: RCRestClient,
    room: RCRoomID,
) -> None:
    _, sink, cursors = listener
    msg = await rc_admin.post_message(room, "hi from RC")
    event = await sink.wait_for(posted(msg.id))
    assert event.source is EventSource.REALTIME
    assert isinstance(event, MessagePosted) and event.message.user.username == "admin"
    await rc_admin.update_message(room, msg.id, "edited on RC")
    edit = await sink.wait_for(lambda e: isinstance(e, MessageEdited) and e.message.id == msg.id)
    assert isinstance(edit, MessageEdited) and edit.message.text == "edited on RC"
    await rc_admin.react(msg.id, "tada")
    await sink.wait_for(lambda e: isinstance(e, MessageEdited) and ":tada:" in e.message.reactions)
    await rc_admin.delete_message(room, msg.id)
    gone = await sink.wait_for(deleted(msg.id))
    assert isinstance(gone, MessageDeleted) and gone.room_id == room and gone.message is None
    cursor = await cursors.get(room)
    assert cursor is not None and cursor >= edit.message.updated_at


async def test_soft_delete_arrives_as_rm_message(
    listener: tuple[RealtimeListener, Collector, InMemoryCursorStore],
    rc_sim: SimulatorServer,
    rc_admin: RCRestClient,
    room: RCRoomID,
) -> None:
    _, sink, _ = listener
    await sim_control(rc_sim, "settings", {"Message_ShowDeletedStatus": True})
    msg = await rc_admin.post_message(room, "soon gone")
    await rc_admin.delete_message(room, msg.id)
    event = await sink.wait_for(deleted(msg.id))
    assert isinstance(event, MessageDeleted) and event.message is not None
    assert event.message.type == "rm" and event.message.text == ""
    assert (await rc_admin.get_message(msg.id)).is_deleted


async def test_prune_is_one_bulk_event_then_each_removed_message_from_the_trash(
    listener: tuple[RealtimeListener, Collector, InMemoryCursorStore],
    rc_admin: RCRestClient,
    rc_bot: RCRestClient,
    room: RCRoomID,
) -> None:
    _, sink, _ = listener
    start = datetime.now(UTC) - timedelta(seconds=1)
    mine = [await rc_admin.post_message(room, f"admin {i}") for i in range(3)]
    bots = await rc_bot.post_message(room, "bot stays")
    await sink.wait_for(posted(bots.id))
    result = await rc_admin.clean_history(
        room,
        oldest=start,
        latest=datetime.now(UTC) + timedelta(seconds=1),
        users=[RCUsername("admin")],
    )
    assert result.count == 3
    event = await sink.wait_for(lambda e: isinstance(e, MessagesPruned))
    assert isinstance(event, MessagesPruned)
    assert event.room_id == room and event.users == ("admin",) and event.inclusive
    assert all(event.matches(m) for m in mine) and not event.matches(bots)
    # The event names no messages: the listener catches up on the room at once, and the
    # server's trash names each one the prune removed.
    for message in mine:
        await sink.wait_for(deleted(message.id))
    later = await rc_bot.post_message(room, "after the prune")
    await sink.wait_for(posted(later.id))
    assert sum(isinstance(e, MessagesPruned) for e in sink.events) == 1
    assert not any(isinstance(e, MessageDeleted) and e.message_id == bots.id for e in sink.events)


async def test_restart_mid_stream_loses_nothing(
    listener: tuple[RealtimeListener, Collector, InMemoryCursorStore],
    rc_sim: SimulatorServer,
    rc_admin: RCRestClient,
    room: RCRoomID,
) -> None:
    rt, sink, _ = listener
    before = await rc_admin.post_message(room, "before restart")
    doomed = await rc_admin.post_message(room, "deleted while away")
    to_edit = await rc_admin.post_message(room, "edited while away")
    await sink.wait_for(posted(to_edit.id))
    connections = rt.connections

    await rc_sim.stop()
    # While the server (and so the connector's stream) is down, users keep chatting.
    state = rc_sim.state
    admin, sim_room = rc_sim.admin, state.rooms[room]
    away = ops.create_message(state, admin, sim_room, {"msg": "sent while away"})
    ops.delete_message(state, admin, sim_room, state.messages[doomed.id])
    ops.update_message(state, admin, sim_room, state.messages[to_edit.id], "new text")
    sent_then_deleted = ops.create_message(state, admin, sim_room, {"msg": "blink"})
    ops.delete_message(state, admin, sim_room, sent_then_deleted)
    await asyncio.sleep(0.3)  # let the connector notice and start reconnecting
    await rc_sim.start()

    got = await sink.wait_for(posted(away["_id"]))
    assert got.source is EventSource.CATCHUP
    await sink.wait_for(deleted(doomed.id))
    await sink.wait_for(deleted(sent_then_deleted["_id"]))
    edit = await sink.wait_for(
        lambda e: isinstance(e, MessageEdited) and e.message.id == to_edit.id
    )
    assert isinstance(edit, MessageEdited) and edit.message.text == "new text"
    assert rt.connections > connections
    # And the live stream works again after the reconnect.
    after = await rc_admin.post_message(room, "after restart")
    assert (await sink.wait_for(posted(after.id))).source is EventSource.REALTIME
    assert any(posted(before.id)(e) for e in sink.events)


async def test_fault_outage_reconnects_and_catches_up(
    listener: tuple[RealtimeListener, Collector, InMemoryCursorStore],
    rc_sim: SimulatorServer,
    room: RCRoomID,
) -> None:
    rt, sink, _ = listener
    await sim_control(rc_sim, "faults", {"down_seconds": 0.5})
    await asyncio.sleep(0.2)
    missed = ops.create_message(rc_sim.state, rc_sim.admin, rc_sim.state.rooms[room], {"msg": "x"})
    await rc_sim.wait_until_up()
    event = await sink.wait_for(posted(missed["_id"]))
    assert event.source in (EventSource.CATCHUP, EventSource.REALTIME)
    assert rt.connections >= 2


async def test_failing_sink_is_retried_through_catch_up(
    rc_bot: RCRestClient, rc_admin: RCRestClient, room: RCRoomID
) -> None:
    good = Collector()
    failures = {"left": 1}

    async def flaky(event: RCEvent) -> None:
        if isinstance(event, MessagePosted) and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database unavailable")
        await good(event)

    rt = RealtimeListener(rc_bot, flaky, InMemoryCursorStore(), options=FAST)
    await rt.add_room(room)
    rt.start()
    try:
        async with asyncio.timeout(10):
            await rt.connected.wait()
        msg = await rc_admin.post_message(room, "must not be lost")
        event = await good.wait_for(posted(msg.id))
        assert event.source is EventSource.CATCHUP
        assert failures["left"] == 0
    finally:
        await rt.stop()


async def test_event_queue_iterates_events() -> None:
    queue = EventQueue()
    event = MessageDeleted(RCRoomID("r"), RCMessageID("m"), EventSource.REALTIME)
    await queue(event)
    async for got in queue:
        assert got == event
        break


async def test_the_bridges_own_post_is_dropped_once_and_later_changes_still_arrive(
    rc_bot: RCRestClient, rc_admin: RCRestClient, room: RCRoomID
) -> None:
    sink, echoes = Collector(), OwnEchoes()
    rt = RealtimeListener(rc_bot, sink, InMemoryCursorStore(), options=FAST, echoes=echoes)
    await rt.add_room(room)
    rt.start()
    try:
        async with asyncio.timeout(10):
            await rt.connected.wait()
        own_id = RCMessageID(Identities.rc_message_id("$from-matrix:hs1"))
        echoes.expect(own_id)
        await rc_admin.send_message(room, "relayed from Matrix", message_id=own_id)
        other = await rc_admin.post_message(room, "typed on Rocket.Chat")
        await sink.wait_for(posted(other.id))  # the stream delivers in order
        assert echoes.dropped == 1
        assert not [
            e for e in sink.events if getattr(e, "message", None) and e.message.id == own_id
        ]
        await rc_admin.react(own_id, "tada")  # someone reacts: that change is not an echo
        await sink.wait_for(
            lambda e: (
                isinstance(e, MessagePosted)
                and e.message.id == own_id
                and ":tada:" in e.message.reactions
            )
        )
    finally:
        await rt.stop()


async def test_a_dropped_echo_moves_the_cursor_once_what_came_before_it_is_delivered(
    rc_bot: RCRestClient, rc_admin: RCRestClient, room: RCRoomID
) -> None:
    """A room whose traffic all comes from Matrix must not keep an old cursor (every
    reconnect would fetch all those echoes again), yet the cursor may pass an echo only
    after the events received before it were handled."""
    release = asyncio.Event()
    before = await rc_admin.post_message(room, "typed before the bridge starts")
    delivered: list[RCEvent] = []

    async def slow_sink(event: RCEvent) -> None:
        if isinstance(event, MessagePosted) and event.message.text == "typed on Rocket.Chat":
            await release.wait()
        delivered.append(event)

    echoes, cursors = OwnEchoes(), InMemoryCursorStore()
    rt = RealtimeListener(rc_bot, slow_sink, cursors, options=FAST, echoes=echoes)
    await rt.add_room(room)
    start = await cursors.get(room)
    assert start is not None and start >= before.updated_at
    rt.start()
    try:
        async with asyncio.timeout(10):
            await rt.connected.wait()
        typed = await rc_admin.post_message(room, "typed on Rocket.Chat")
        own_id = RCMessageID(Identities.rc_message_id("$relayed:hs1"))
        echoes.expect(own_id)
        await rc_admin.send_message(room, "relayed from Matrix", message_id=own_id)
        echo_time = (await rc_admin.get_message(own_id)).updated_at
        async with asyncio.timeout(10):
            while echoes.dropped < 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # room for a wrong early write to happen
        held = await cursors.get(room)
        assert held is not None and held < typed.updated_at, "moved past an undelivered event"
        release.set()
        async with asyncio.timeout(10):
            while (await cursors.get(room) or start) < echo_time:
                await asyncio.sleep(0.02)
        ids = [e.message.id for e in delivered if isinstance(e, MessagePosted)]
        assert typed.id in ids and own_id not in ids
    finally:
        release.set()
        await rt.stop()


async def test_a_followed_room_the_server_refuses_does_not_stop_the_other_rooms(
    rc_bot: RCRestClient, rc_admin: RCRestClient, room: RCRoomID
) -> None:
    """A room the bridge's account cannot read (it left, or the room went with a deleted
    person) is refused by the server at subscription and at catch-up. Before, that one
    refusal ended every connection attempt, so no room's messages arrived any more."""
    closed = await rc_admin.room_create("groups", "not-the-bridges")
    sink = Collector()
    cursors = InMemoryCursorStore()
    rt = RealtimeListener(rc_bot, sink, cursors, options=FAST)
    await rt.add_room(closed.id)
    await rt.add_room(room)
    rt.start()
    try:
        async with asyncio.timeout(10):
            await rt.connected.wait()
        msg = await rc_admin.post_message(room, "still arrives")
        await sink.wait_for(posted(msg.id))
    finally:
        await rt.stop()
