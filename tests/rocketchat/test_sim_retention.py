"""Retention policies in the simulator: global settings, per-room overrides through
rooms.saveRoomSettings, and the pruning job with its deleteMessageBulk broadcast."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.app import SimConfig, SimulatorServer
from bridge.sandbox.rocketchat.state import SimState
from tests.fixtures.rocketchat import sim_control
from tests.rocketchat.ddp_client import ddp

MINUTE_MS = 60_000


async def _post(
    sim: SimulatorServer, client: RCRestClient, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    login = client.login_info
    assert login is not None
    headers = {"X-User-Id": login.user_id, "X-Auth-Token": login.auth_token}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}{path}", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


def _age(sim: SimulatorServer, msg_id: str, minutes: float) -> None:
    """Make a message older than it is (the simulator's clock is real time)."""
    sim.state.messages[msg_id]["ts"] -= int(minutes * MINUTE_MS)


async def _room_with_history(
    sim: SimulatorServer, admin: RCRestClient, name: str
) -> tuple[str, dict[str, str]]:
    room = await admin.room_create("channels", name)
    ids = {}
    for label in ("old", "older", "recent"):
        ids[label] = (await admin.post_message(room.id, label)).id
    ids["reply"] = (await admin.post_message(room.id, "old reply", tmid=ids["older"])).id
    for label, minutes in (("old", 10), ("older", 20), ("reply", 10)):
        _age(sim, ids[label], minutes)
    return str(room.id), ids


async def test_global_policy_prunes_old_channel_messages_and_broadcasts(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    rid, ids = await _room_with_history(rc_sim, rc_admin, "aging")
    async with ddp(rc_sim, {"resume": rc_admin.login_info.auth_token}) as watcher:  # type: ignore[union-attr]
        await watcher.sub("stream-notify-room", f"{rid}/deleteMessageBulk")
        await sim_control(rc_sim, "retention", {})  # off by default: nothing happens
        assert set(ids.values()) <= set(rc_sim.state.messages)
        await sim_control(
            rc_sim,
            "settings",
            {
                "RetentionPolicy_Enabled": True,
                "RetentionPolicy_AppliesToChannels": True,
                "RetentionPolicy_TTL_Channels": 5 * MINUTE_MS,
            },
        )
        await sim_control(rc_sim, "retention", {})
        (bulk,) = await watcher.event("stream-notify-room", f"{rid}/deleteMessageBulk")
    assert ids["old"] not in rc_sim.state.messages
    # DoNotPruneThreads (default on) keeps the thread parent and its reply.
    assert {ids["older"], ids["reply"], ids["recent"]} <= set(rc_sim.state.messages)
    assert ids["old"] in rc_sim.state.trash
    assert bulk["rid"] == rid and bulk["users"] == [] and bulk["excludePinned"] is False
    assert set(bulk["ts"]) == {"$gte", "$lte"}


async def test_room_override_with_fractional_days_and_threads(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    rid, ids = await _room_with_history(rc_sim, rc_admin, "override")
    await sim_control(rc_sim, "settings", {"RetentionPolicy_Enabled": True})
    settings = {
        "rid": rid,
        "retentionEnabled": True,
        "retentionOverrideGlobal": True,
        "retentionMaxAge": 5 / (24 * 60),  # five minutes, in days
        "retentionIgnoreThreads": False,
    }
    status, body = await _post(rc_sim, rc_admin, "/api/v1/rooms.saveRoomSettings", settings)
    assert (status, body) == (200, {"rid": rid, "success": True})
    retention = rc_sim.state.rooms[rid].retention
    assert retention is not None and retention["maxAge"] == settings["retentionMaxAge"]
    await sim_control(rc_sim, "retention", {})
    left = set(rc_sim.state.messages)
    assert not {ids["old"], ids["older"], ids["reply"]} & left
    assert ids["recent"] in left


async def test_override_off_globally_does_nothing(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    rid, ids = await _room_with_history(rc_sim, rc_admin, "dormant")
    settings = {"rid": rid, "retentionEnabled": True, "retentionOverrideGlobal": True}
    assert (await _post(rc_sim, rc_admin, "/api/v1/rooms.saveRoomSettings", settings))[0] == 200
    settings = {"rid": rid, "retentionMaxAge": "0.001"}  # as the spec types it: a string
    assert (await _post(rc_sim, rc_admin, "/api/v1/rooms.saveRoomSettings", settings))[0] == 200
    await sim_control(rc_sim, "retention", {})  # RetentionPolicy_Enabled is off
    assert set(ids.values()) <= set(rc_sim.state.messages)


async def test_room_settings_permissions_and_unknown_keys(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    own = await rc_user.room_create("channels", "carols")  # carol owns it: edit-room
    path = "/api/v1/rooms.saveRoomSettings"
    status, body = await _post(rc_sim, rc_user, path, {"rid": own.id, "roomTopic": "tea"})
    assert status == 200 and rc_sim.state.rooms[own.id].topic == "tea"
    status, body = await _post(rc_sim, rc_user, path, {"rid": own.id, "retentionEnabled": True})
    assert status == 400 and body["errorType"] == "error-action-not-allowed"
    assert "retention policy" in body["error"]
    assert rc_sim.state.rooms[own.id].retention is None
    status, body = await _post(rc_sim, rc_admin, path, {"rid": own.id, "noSuchSetting": 1})
    assert status == 400 and body["errorType"] == "error-invalid-settings"
    status, body = await _post(rc_sim, rc_admin, path, {"rid": "nope", "roomTopic": "x"})
    assert status == 400 and body["errorType"] == "error-invalid-room"


async def test_the_job_runs_on_its_own_schedule() -> None:
    config = SimConfig(ping_interval=0.5, retention_interval=0.05)
    async with SimulatorServer(config) as sim:
        sim.state.settings.update(
            RetentionPolicy_Enabled=True,
            RetentionPolicy_AppliesToGroups=True,
            RetentionPolicy_TTL_Groups=MINUTE_MS,
        )
        room = sim.state.add_room("p", "scheduled", sim.admin, [sim.bot.id])
        doc = ops.create_message(sim.state, sim.admin, room, {"msg": "stale"})
        async with ddp(sim, {"resume": sim.config.bot_token}) as watcher:
            await watcher.sub("stream-notify-room", f"{room.id}/deleteMessageBulk")
            _age(sim, doc["_id"], 2)
            (bulk,) = await watcher.event("stream-notify-room", f"{room.id}/deleteMessageBulk")
        assert bulk["rid"] == room.id and doc["_id"] not in sim.state.messages


def test_snapshot_keeps_retention_and_avatar_etags() -> None:
    state = SimState()
    user = state.add_user("dana", "pw", ["user"])
    user.avatar_etag = "etag-1"
    room = state.add_room("c", "kept", user, [])
    room.retention = {"enabled": True, "overrideGlobal": True, "maxAge": 0.5}
    again = SimState.from_json(json.loads(json.dumps(state.to_json())))
    assert again.rooms[room.id].retention == room.retention
    assert again.users[user.id].avatar_etag == "etag-1"
