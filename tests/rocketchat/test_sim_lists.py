"""Simulator REST routes for listing, joining, server info and the admin settings API.

Every exchange is also validated against the OpenAPI files by the ``rc_sim`` fixture."""

from __future__ import annotations

from typing import Any

import aiohttp

from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import SimulatorServer


async def _call(
    sim: SimulatorServer,
    method: str,
    path: str,
    auth: tuple[str, str] | None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"X-User-Id": auth[0], "X-Auth-Token": auth[1]} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{sim.url}{path}", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


def _auth(client: RCRestClient) -> tuple[str, str]:
    assert client.login_info is not None
    return client.login_info.user_id, client.login_info.auth_token


async def test_channel_lists_and_join(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    room = await rc_admin.room_create("channels", "lobby")
    await rc_admin.room_create("groups", "secret")
    carol = _auth(rc_user)
    status, listed = await _call(rc_sim, "GET", "/api/v1/channels.list", carol)
    assert status == 200
    assert [c["name"] for c in listed["channels"]] == ["lobby"]
    assert listed["total"] == 1
    _, joined = await _call(rc_sim, "GET", "/api/v1/channels.list.joined", carol)
    assert joined["channels"] == []
    status, body = await _call(
        rc_sim, "POST", "/api/v1/channels.join", carol, {"roomId": str(room.id)}
    )
    assert status == 200 and body["channel"]["_id"] == room.id
    _, joined = await _call(rc_sim, "GET", "/api/v1/channels.list.joined", carol)
    assert [c["_id"] for c in joined["channels"]] == [room.id]
    joins = [m for m in rc_sim.state.messages.values() if m.get("t") == "uj"]
    assert [m["msg"] for m in joins] == ["carol"]


async def test_join_refuses_a_private_group(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    group = await rc_admin.room_create("groups", "hidden")
    status, body = await _call(
        rc_sim, "POST", "/api/v1/channels.join", _auth(rc_user), {"roomId": str(group.id)}
    )
    assert status == 400 and body["errorType"] == "error-room-not-found"
    assert rc_sim.state.rooms[group.id].members == [rc_sim.admin.id]


async def test_rooms_get_and_subscriptions_get(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    room = await rc_admin.room_create("channels", "mine")
    admin = _auth(rc_admin)
    status, rooms = await _call(rc_sim, "GET", "/api/v1/rooms.get", admin)
    assert status == 200 and [r["_id"] for r in rooms["update"]] == [room.id]
    assert rooms["remove"] == []
    later = "2999-01-01T00:00:00.000Z"
    _, none = await _call(rc_sim, "GET", f"/api/v1/rooms.get?updatedSince={later}", admin)
    assert none["update"] == []
    status, subs = await _call(rc_sim, "GET", "/api/v1/subscriptions.get", admin)
    assert status == 200
    (sub,) = subs["update"]
    assert sub["rid"] == room.id and sub["u"]["_id"] == rc_sim.admin.id
    assert sub["name"] == "mine" and sub["t"] == "c" and sub["roles"] == ["owner"]


async def test_server_info_with_and_without_statistics_permission(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_bot: RCRestClient
) -> None:
    status, anonymous = await _call(rc_sim, "GET", "/api/info", None)
    assert status == 200 and anonymous["success"] is True
    assert anonymous["version"].count(".") == 1 and "info" not in anonymous
    _, admin = await _call(rc_sim, "GET", "/api/info", _auth(rc_admin))
    assert admin["version"].count(".") == 2 and admin["info"]["version"] == admin["version"]


async def test_settings_api_is_admin_only_and_typed(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    path = "/api/v1/settings/Message_ErasureType"
    status, body = await _call(rc_sim, "POST", path, _auth(rc_user), {"value": "Keep"})
    assert status == 403 and "error-unauthorized" in body["error"]
    assert rc_sim.state.settings["Message_ErasureType"] == "Delete"
    status, body = await _call(rc_sim, "POST", path, _auth(rc_admin), {"value": "Unlink"})
    assert (status, body) == (200, {"success": True})
    assert rc_sim.state.settings["Message_ErasureType"] == "Unlink"
    status, body = await _call(rc_sim, "GET", path, _auth(rc_admin))
    assert body == {"_id": "Message_ErasureType", "value": "Unlink", "success": True}
    status, body = await _call(
        rc_sim, "POST", "/api/v1/settings/No_Such_Setting", _auth(rc_admin), {"value": "x"}
    )
    assert (status, body) == (400, {"success": False})
    status, body = await _call(
        rc_sim, "POST", "/api/v1/settings/Message_AllowEditing", _auth(rc_admin), {"value": "no"}
    )
    assert status == 400 and body["errorType"] == "invalid-params"
    assert rc_sim.state.settings["Message_AllowEditing"] is True
