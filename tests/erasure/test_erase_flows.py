"""Erasure against real homeservers: Matrix users, outages, servers that left, profiles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest
from mautrix.types import RoomID

from bridge.privacy import report as words
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure_model import RequestState
from bridge.sandbox.homeservers import HomeserverRef
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.erasure.helpers import (
    OFFICER,
    content_of,
    erase,
    finished,
    ledger_items,
    notice_row,
    redacted_on,
    room_row,
    say,
    seen_redacted,
)
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

Outage = Callable[[HomeserverRef], AbstractAsyncContextManager[None]]


async def _admin_event(stack: BridgeStack, index: int, room: str, event_id: str) -> dict[str, Any]:
    """An event as homeserver ``index`` itself holds it (its admin API; works after the
    server's users left the room)."""
    hs = stack.homeservers.homeserver(index)
    token = stack.homeservers.admin(index).access_token
    url = f"{hs.client_url}/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit=200"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        body = await resp.json()
    for event in body.get("chunk", []):
        if event["event_id"] == event_id:
            return dict(event)
    raise AssertionError(f"{event_id} not on homeserver {index}")


async def test_matrix_users_messages_are_deleted_from_rocketchat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    try:
        events = [
            await views[0].send(rid, {"msgtype": "m.text", "body": f"alice private {i}"})
            for i in range(2)
        ]

        async def on_rocketchat() -> bool:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return len([t for t in texts if t.startswith("alice private")]) == 2

        await wait_for(on_rocketchat, 30)
        await ledger_items(bridge_stack, alice.user_id, 2)

        status = await erase(bridge_stack, alice.user_id)

        assert status.state is RequestState.DONE, status
        texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
        assert not [t for t in texts if t.startswith("alice private")]
        rc_name = f"rocketchat:127.0.0.1:{bridge_stack.sim.port}"
        assert room_row(status, rc_name, rid).status == words.DELETED
        assert status.rocketchat[words.DELETED] == 2  # her profile item needs no delete
        # Her own events were redacted by the bot's moderator power, seen from hs2 too.
        assert await seen_redacted(views[1], rid, [str(e) for e in events])
        # The shadow account no longer carries her name or her Matrix id.
        shadow = [u for u in bridge_stack.sim.state.users.values() if u.name == "Deleted user"]
        assert any(u.username.startswith("deleted-") for u in shadow)
        localpart = alice.user_id[1:].split(":")[0]
        users = bridge_stack.sim.state.users.values()
        assert not [u for u in users if u.username.startswith(localpart + ".")]
        # Every step is in the tamper-evident audit chain, and the chain holds.
        async with bridge_stack.app.db.unit_of_work() as uow:
            records = await uow.audit.entries_after(0, 100_000)
        kinds = [r.kind for r in records if f'"{status.id}"' in r.details]
        for kind in ("request.received", "request.approved", "redaction.sent", "request.finished"):
            assert kind in kinds, kinds
        assert kinds.count("deletion.done") >= 1
        verdict = await AuditLog(bridge_stack.app.db).verify()
        assert verdict.ok, verdict.fault
    finally:
        for view in views:
            await view.close()


async def test_a_server_that_left_gets_an_admin_notice_not_a_redaction(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs1, hs2, hs3 = bridge_stack.homeservers.server_names
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    try:
        _, event = await say(carol, room, views[0], "said while hs2 was here")
        await ledger_items(bridge_stack, carol_id, 1)
        await views[0].client.leave_room(rid)

        async def hs2_left() -> bool:
            async with bridge_stack.app.db.unit_of_work() as uow:
                joined = await uow.erasure.joined_intervals([rid])
            return not [j for j in joined if j.server == hs2 and j.to_ms is None]

        await wait_for(hs2_left)

        status = await erase(bridge_stack, carol_id)

        assert room_row(status, hs2, rid).status == words.LEFT_ROOM
        assert notice_row(status, hs2).status == words.ADMIN_NOTIFIED
        assert room_row(status, hs3, rid).status == words.DELIVERED
        # What the servers show matches: hs3 holds the redacted event, hs2 still the
        # original (no redaction can reach it: the notice asks its admin instead).
        assert await content_of(views[1], rid, event) == {}
        held = await _admin_event(bridge_stack, 1, rid, event)
        assert held["content"].get("body") == "said while hs2 was here"
    finally:
        for view in views:
            await view.close()


async def test_homeserver_down_during_erasure_catches_up_and_status_follows(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    homeserver_outage: Outage,
) -> None:
    hs2 = bridge_stack.homeservers.server_names[1]
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    seen: set[str] = set()
    try:
        events = [(await say(carol, room, views[0], f"outage {i}"))[1] for i in range(2)]
        await ledger_items(bridge_stack, carol_id, 2)
        async with homeserver_outage(1):
            request_id = await bridge_stack.app.erasure.request(carol_id, OFFICER, verified=True)

            async def retrying() -> bool:
                status = await bridge_stack.app.erasure.status(request_id)
                seen.update(r.status for r in status.recipients if r.recipient == hs2)
                return any(
                    words.is_retrying(s) and words.label(s).endswith(", retrying") for s in seen
                )

            await wait_for(retrying, 60)
        # hs2 is back: bring the backed-off retries forward (an operator's "retry now").
        await bridge_stack.app.db.outbox.retry_now("erasure-")
        status = await finished(bridge_stack, request_id, 120)
        assert await wait_for(lambda: redacted_on(views[0], rid, events), 60)
        assert room_row(status, hs2, rid).status in (words.DELIVERED, words.REDACTION_SENT)
        assert notice_row(status, hs2).status == words.ADMIN_NOTIFIED
        assert status.state is RequestState.DONE
    finally:
        for view in views:
            await view.close()


async def test_ghost_profile_is_scrubbed_on_every_server(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    me = await carol.me()
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    try:
        _, event = await say(carol, room, views[0], "hello from carol")
        ghost = str((await views[0].event(rid, event))["sender"])
        await ledger_items(bridge_stack, me.id, 1)

        status = await erase(bridge_stack, me.id)

        assert {s.step: s.status for s in status.steps}["ghost_profile"] == "done"
        for view in views:
            profile = await view.api.request("GET", f"/_matrix/client/v3/profile/{ghost}")
            assert profile.get("displayname") == "Deleted user"
            assert not profile.get("avatar_url")
            state = await view.api.request(
                "GET", f"/_matrix/client/v3/rooms/{rid}/state/m.room.member/{ghost}"
            )
            assert state["membership"] == "leave", "the ghost left after its redactions"
            assert me.username not in str(state.get("displayname", ""))
            # Its earlier membership events (the join with carol's name) are redacted:
            # membership kept, name and avatar stripped.
            joins = [
                e
                for e in await view.timeline(rid, limit=500)
                if e["type"] == "m.room.member" and e.get("state_key") == ghost
            ]
            assert any(e["content"].get("membership") == "join" for e in joins)
            for e in joins:
                assert e["content"].get("displayname") in (None, "Deleted user"), e
                assert not e["content"].get("avatar_url"), e
        async with bridge_stack.app.db.unit_of_work() as uow:
            kept = await uow.bridging.ghost(me.id)
        assert kept is None, "the scrubbed ghost's row goes: nothing names carol any more"
    finally:
        for view in views:
            await view.close()
