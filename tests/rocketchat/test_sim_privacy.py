"""The simulator's privacy-relevant behaviour: deleting people (by an admin or themselves)
under each Message_ErasureType, renames, avatars and roles, with their broadcasts."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest

from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import Exchange, SimulatorServer
from tests.fixtures.rocketchat import FAST_RETRY, sim_control
from tests.rocketchat.ddp_client import DDP, ddp


async def api(
    sim: SimulatorServer, client: RCRestClient, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """A POST with the two-factor headers the spec asks for on users.update (the password
    fallback: its SHA-256 digest; the simulator does not check them)."""
    login = client.login_info
    assert login is not None
    headers = {
        "X-User-Id": login.user_id,
        "X-Auth-Token": login.auth_token,
        "x-2fa-code": hashlib.sha256(b"admin-pass").hexdigest(),
        "x-2fa-method": "password",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}/api/v1/{path}", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def _alice(sim: SimulatorServer, admin: RCRestClient) -> tuple[RCRestClient, str]:
    """alice in a channel the admin owns, with a message, a thread reply and a reaction."""
    await admin.users_create("alice", "Alice", "alice@example.org", "alice-pw")
    room = await admin.room_create("channels", "town", members=["alice"])
    alice = RCRestClient(sim.url, retry=FAST_RETRY)
    await alice.login("alice", "alice-pw")
    theirs = await admin.post_message(room.id, "admin speaking")
    await alice.post_message(room.id, "alice speaking")
    await alice.post_message(room.id, "alice in thread", tmid=theirs.id)
    await alice.react(theirs.id, "smile")
    return alice, str(room.id)


def _by(sim: SimulatorServer, username: str) -> list[dict[str, Any]]:
    return [m for m in sim.state.messages.values() if m["u"]["username"] == username]


async def _no_logged_event_until_next(client: DDP, event: str) -> list[Any]:
    """The next ``stream-notify-logged`` event of any name (to prove none came before)."""
    frame = await client.next_matching(msg="changed", collection="stream-notify-logged")
    assert frame["fields"]["eventName"] == event, frame
    args: list[Any] = frame["fields"]["args"]
    return args


@pytest.mark.parametrize("erasure", ["Delete", "Unlink", "Keep"])
async def test_admin_deletes_a_person_under_each_erasure_type(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, erasure: str
) -> None:
    await sim_control(rc_sim, "settings", {"Message_ErasureType": erasure})
    alice, rid = await _alice(rc_sim, rc_admin)
    alice_id = alice.login_info.user_id  # type: ignore[union-attr]
    async with ddp(rc_sim, {"resume": rc_sim.config.bot_token}) as watcher:
        for name in ("Users:Deleted", "Users:NameChanged"):
            await watcher.sub("stream-notify-logged", name)
        await watcher.sub("stream-room-messages", rid)
        status, body = await api(rc_sim, rc_admin, "users.delete", {"userId": alice_id})
        assert (status, body["success"]) == (200, True)
        marker = {"userId": rc_sim.admin.id, "data": {"username": "root"}}
        await api(rc_sim, rc_admin, "users.update", marker)  # a later event to wait for
        first = await _no_logged_event_until_next(
            watcher, "Users:NameChanged" if erasure == "Keep" else "Users:Deleted"
        )
        streamed = [f for f in watcher.seen if f.get("collection") == "stream-room-messages"]
    await alice.close()
    assert alice_id not in rc_sim.state.users
    parent = next(m for m in rc_sim.state.messages.values() if m["msg"] == "admin speaking")
    assert "reactions" not in parent or parent["reactions"] == {}
    assert streamed == []  # the bulk changes are not streamed per message
    if erasure == "Delete":
        assert _by(rc_sim, "alice") == [] and len(rc_sim.state.trash) == 2
        assert first == [{"userId": alice_id, "messageErasureType": "Delete"}]
    elif erasure == "Unlink":
        unlinked = _by(rc_sim, "rocket.cat")
        assert {m["msg"] for m in unlinked} == {"alice speaking", "alice in thread"}
        assert all(m["alias"] == "Removed User" for m in unlinked)
        assert all(m["u"] == {"_id": "rocket.cat", "username": "rocket.cat"} for m in unlinked)
        assert first == [
            {
                "userId": alice_id,
                "messageErasureType": "Unlink",
                "replaceByUser": {
                    "_id": "rocket.cat",
                    "username": "rocket.cat",
                    "alias": "Removed User",
                },
            }
        ]
    else:
        assert {m["msg"] for m in _by(rc_sim, "alice")} == {"alice speaking", "alice in thread"}
        assert first[0]["username"] == "root"


async def test_last_owner_needs_confirm_relinquish(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    await rc_admin.users_create("olga", "Olga", "olga@example.org", "olga-pw")
    async with RCRestClient(rc_sim.url, retry=FAST_RETRY) as olga:
        await olga.login("olga", "olga-pw")
        room = await olga.room_create("channels", "olgas", members=["admin"])
    olga_id = rc_sim.state.user_by_name("olga").id  # type: ignore[union-attr]
    status, body = await api(rc_sim, rc_admin, "users.delete", {"userId": olga_id})
    assert status == 400 and body["errorType"] == "user-last-owner"
    assert olga_id in rc_sim.state.users
    status, _ = await api(
        rc_sim, rc_admin, "users.delete", {"userId": olga_id, "confirmRelinquish": True}
    )
    assert status == 200 and rc_sim.state.rooms[room.id].owners == [rc_sim.admin.id]


async def test_delete_own_account_gate_and_password(
    rc_sim: SimulatorServer,
    rc_user: RCRestClient,
    rc_exchanges: list[Exchange],
    rc_invalid_requests: list[Exchange],
) -> None:
    carol_id = rc_user.login_info.user_id  # type: ignore[union-attr]
    good = hashlib.sha256(b"carol-pw").hexdigest().upper()  # any case is accepted
    status, body = await api(rc_sim, rc_user, "users.deleteOwnAccount", {"password": good})
    assert status == 400 and body["errorType"] == "error-not-allowed"
    await sim_control(rc_sim, "settings", {"Accounts_AllowDeleteOwnAccount": True})
    status, body = await api(rc_sim, rc_user, "users.deleteOwnAccount", {})
    rc_invalid_requests.append(rc_exchanges[-1])  # no password, on purpose
    assert status == 400 and body["error"] == 'Body parameter "password" is required.'
    wrong = hashlib.sha256(b"guess").hexdigest()
    status, body = await api(rc_sim, rc_user, "users.deleteOwnAccount", {"password": wrong})
    assert status == 400 and body["errorType"] == "error-invalid-password"
    assert carol_id in rc_sim.state.users
    status, body = await api(rc_sim, rc_user, "users.deleteOwnAccount", {"password": good})
    assert (status, body) == (200, {"success": True})
    assert carol_id not in rc_sim.state.users


async def test_renames_avatars_and_roles_are_announced(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    carol_id = rc_user.login_info.user_id  # type: ignore[union-attr]
    room = await rc_admin.room_create("channels", "names", members=["carol"])
    said = await rc_user.post_message(room.id, "hi")
    async with ddp(rc_sim, {"resume": rc_sim.config.bot_token}) as watcher:
        for name in ("Users:NameChanged", "updateAvatar", "roles-change"):
            await watcher.sub("stream-notify-logged", name)
        quiet = {"userId": carol_id, "data": {"name": "Carol Quiet"}}
        await api(rc_sim, rc_admin, "users.update", quiet)  # UI_Use_Real_Name is off
        await api(
            rc_sim, rc_admin, "users.update", {"userId": carol_id, "data": {"username": "caroline"}}
        )
        (changed,) = await watcher.event("stream-notify-logged", "Users:NameChanged")
        assert changed == {"_id": carol_id, "name": "Carol Quiet", "username": "caroline"}
        await sim_control(rc_sim, "settings", {"UI_Use_Real_Name": True})
        await api(
            rc_sim, rc_admin, "users.update", {"userId": carol_id, "data": {"name": "Carol Loud"}}
        )
        (loud,) = await watcher.event("stream-notify-logged", "Users:NameChanged")
        assert loud["name"] == "Carol Loud"
        status, _ = await api(
            rc_sim,
            rc_admin,
            "users.setAvatar",
            {"userId": carol_id, "avatarUrl": "https://example.org/c.png"},
        )
        assert status == 200
        (avatar,) = await watcher.event("stream-notify-logged", "updateAvatar")
        assert avatar["username"] == "caroline" and avatar["etag"]
        await api(rc_sim, rc_admin, "users.resetAvatar", {"userId": carol_id})
        (reset,) = await watcher.event("stream-notify-logged", "updateAvatar")
        assert reset == {"username": "caroline"}
        await api(
            rc_sim,
            rc_admin,
            "users.update",
            {"userId": carol_id, "data": {"roles": ["user", "bot"]}},
        )
        (role,) = await watcher.event("stream-notify-logged", "roles-change")
        assert role["type"] == "added" and role["_id"] == "bot" and role["u"]["_id"] == carol_id
        status, _ = await api(
            rc_sim, rc_admin, "channels.addModerator", {"roomId": room.id, "userId": carol_id}
        )
        assert status == 200
        (scoped,) = await watcher.event("stream-notify-logged", "roles-change")
        assert scoped == {
            "type": "added",
            "_id": "moderator",
            "u": {"_id": carol_id, "username": "caroline", "name": "Carol Loud"},
            "scope": room.id,
        }
    assert rc_sim.state.messages[said.id]["u"]["username"] == "caroline"
