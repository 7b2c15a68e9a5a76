"""Retention across federation on real Synapse and the simulator: a room's 1-minute policy
is mirrored into m.room.retention, and its expired items are redacted on every server."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mautrix.types import RoomID

from bridge.ids import RCRoomID
from bridge.privacy import report as words
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.server_versions import ServerVersions
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.common import now_ms
from bridge.workers.retention import RetentionWorker
from tests.bridging.helpers import MatrixView, rc_history
from tests.erasure.helpers import finished, room_row, rows, say, seen_redacted
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MINUTE_IN_DAYS = 1 / 1440


async def _rc_admin(stack: BridgeStack) -> RCRestClient:
    name = f"admin{uuid.uuid4().hex[:8]}"
    stack.sim.state.add_user(name, "pw", ["admin"])
    client = RCRestClient(stack.sim.url)
    await client.login(name, "pw")
    stack.rc_clients.append(client)
    return client


async def _room_policy(admin: RCRestClient, rid: str, **settings: Any) -> None:
    await admin.save_room_settings(RCRoomID(rid), **settings)


async def test_a_one_minute_policy_redacts_copies_on_every_server(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    admin = await _rc_admin(bridge_stack)
    app = bridge_stack.app
    try:
        _, carol_event = await say(carol, room, views[1], "carol old")
        alice_event = await views[0].send(rid, {"msgtype": "m.text", "body": "alice old"})

        async def relayed() -> bool:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return "alice old" in texts

        await wait_for(relayed, 30)
        cutoff = now_ms()
        _, fresh_event = await say(carol, room, views[1], "carol fresh")

        # The policy the real way: the global switch, then the room's own 1-minute override.
        await admin.set_setting("RetentionPolicy_Enabled", True)
        await _room_policy(
            admin,
            room.rc_room_id,
            retentionEnabled=True,
            retentionOverrideGlobal=True,
            retentionMaxAge=MINUTE_IN_DAYS,
        )
        # A minute after ``cutoff``, by the worker's own clock.
        clock = [cutoff + 60_000]
        assert app.rocketchat is not None
        rc_side = app.rocketchat
        worker = RetentionWorker(
            app.db,
            app.erasure,
            lambda: rc_side.admin,
            interval_seconds=60,
            wake_outbox=app.outbox_worker.wake,
            clock=lambda: clock[0],
        )
        (request_id,) = await worker.run_once()
        async with app.db.unit_of_work() as uow:  # kept for the dashboard's page
            kept = {r.room_id: r for r in await uow.room_policies.all()}[rid]
        assert (kept.max_age_ms, kept.source) == (60_000, "room")
        assert await worker.run_once() == []  # the same cut-off opens nothing twice
        clock[0] += 1  # a later cut-off with nothing sent before it: no empty request
        assert await worker.run_once() == []
        status = await finished(bridge_stack, request_id, 120)

        assert status.state is RequestState.DONE, status
        assert status.subject == f"retention of {rid}"
        # Both old messages redacted, seen from hs1 and hs2; the fresh one left alone.
        for view in views:
            assert await seen_redacted(view, rid, [carol_event, str(alice_event)])
            assert (await view.event(rid, fresh_event))["content"].get("body") == "carol fresh"
        sent = status.matrix.get(words.REDACTION_SENT, 0) + status.matrix.get(words.DELIVERED, 0)
        assert sent == 2, status.matrix
        # Per recipient, with an erasure's status words; no admin notice for routine expiry.
        for server in bridge_stack.homeservers.server_names[1:3]:
            assert room_row(status, server, rid).status in words.FINAL_MATRIX
            assert all(r.room_id is not None for r in rows(status, server))
        # Alice's Rocket.Chat copy is deleted; Carol's original is Rocket.Chat's to prune.
        texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
        assert "alice old" not in texts and "carol old" in texts
        rc_name = f"rocketchat:127.0.0.1:{bridge_stack.sim.port}"
        assert room_row(status, rc_name, rid).status == words.DELETED

        # The portal carries the policy in Matrix's terms, seen on hs2 as well.
        async def mirrored() -> dict[str, Any] | None:
            try:
                path = f"/_matrix/client/v3/rooms/{rid}/state/m.room.retention"
                content: dict[str, Any] = await views[1].api.request("GET", path)
            except Exception:  # not there yet
                return None
            return content or None

        assert await wait_for(mirrored, 30) == {"max_lifetime": 60_000}

        # Each remote server's software, asked over federation (the sandbox CA trusted):
        # the report gives each Synapse recipient an expected purge date.
        versions = ServerVersions(app.db, bridge_stack.homeservers.ssl_context)
        for server in bridge_stack.homeservers.server_names[1:3]:
            await versions.check(server)
        status = await app.erasure.status(request_id)
        report = await app.erasure.report(request_id)
        for server in bridge_stack.homeservers.server_names[1:3]:
            note = status.purges[server]
            assert note.startswith("expected purge by ") and "(Synapse 1." in note, note
            assert note.endswith(", default 7 days)"), note
            line = next(li for li in report.splitlines() if li.startswith(f"- {server} "))
            assert note in line, report
    finally:
        await admin.set_setting("RetentionPolicy_Enabled", False)
        await _room_policy(admin, room.rc_room_id, retentionEnabled=False)
        for view in views:
            await view.close()
