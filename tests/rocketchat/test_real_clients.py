"""Client libraries this project did not write, held against the simulator.

``rocketchat-API`` (REST, blocking ``requests``: run in a worker thread) and
``rocketchat-async`` (realtime DDP over ``websockets``) are used with their defaults; every
call must succeed and parse. The simulator runs in the test's loop (``rc_sim``), so every
REST exchange is also checked against the OpenAPI files.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rocketchat_API.rocketchat import RocketChat as RestClient
from rocketchat_async import RocketChat as AsyncClient
from rocketchat_async.methods import Login

from bridge.sandbox.rocketchat.app import Exchange, SimulatorServer


async def rest(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one blocking rocketchat-API call off the loop that serves the simulator."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def rest_client(sim: SimulatorServer, user: str, password: str) -> RestClient:
    return await rest(RestClient, user=user, password=password, server_url=sim.url)


class Inbox:
    """Collects callback arguments and lets the test wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._event = asyncio.Event()

    def __call__(self, *args: Any) -> None:
        self.items.append(args if len(args) > 1 else args[0])
        self._event.set()

    async def wait_for(self, match: Callable[[Any], bool]) -> Any:
        async with asyncio.timeout(10):
            while True:
                for item in self.items:
                    if match(item):
                        return item
                self._event.clear()
                await self._event.wait()


@pytest.fixture
async def realtime(rc_sim: SimulatorServer) -> AsyncIterator[AsyncClient]:
    client = AsyncClient()
    await client.start(rc_sim.url.replace("http", "ws") + "/websocket", "admin", "admin-pass")
    yield client
    client._ws_connection_task.cancel()
    await asyncio.gather(client._ws_connection_task, return_exceptions=True)


async def test_rest_password_and_token_login(rc_sim: SimulatorServer) -> None:
    client = await rest_client(rc_sim, "admin", "admin-pass")
    me = await rest(client.me)
    assert me["success"] is True and me["username"] == "admin"
    token, uid = client.headers["X-Auth-Token"], client.headers["X-User-Id"]
    again = await rest(RestClient, auth_token=token, user_id=uid, server_url=rc_sim.url)
    assert (await rest(again.me))["_id"] == rc_sim.admin.id
    info = await rest(again.info)
    assert info["success"] is True and info["info"]["version"] == info["version"]


async def test_rest_post_edit_react_thread_history(rc_sim: SimulatorServer) -> None:
    client = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(client.channels_create, "general"))["channel"]
    posted = await rest(client.chat_post_message, "hello", room_id=room["_id"])
    msg_id = posted["message"]["_id"]
    edited = await rest(client.chat_update, room["_id"], msg_id, "hello, edited")
    assert edited["message"]["msg"] == "hello, edited" and "editedAt" in edited["message"]
    assert (await rest(client.chat_react, msg_id, "smile"))["success"] is True
    reply = await rest(
        client.chat_send_message, {"rid": room["_id"], "msg": "in thread", "tmid": msg_id}
    )
    assert reply["message"]["tmid"] == msg_id
    history = await rest(lambda: list(client.channels_history(room["_id"])))
    by_id = {m["_id"]: m for m in history}
    assert by_id[msg_id]["reactions"] == {":smile:": {"usernames": ["admin"]}}
    assert by_id[msg_id]["tcount"] == 1 and reply["message"]["_id"] in by_id
    fetched = await rest(client.chat_get_message, msg_id)
    assert fetched["message"]["msg"] == "hello, edited"


async def test_rest_upload(rc_sim: SimulatorServer, tmp_path: Path) -> None:
    client = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(client.channels_create, "files"))["channel"]
    path = tmp_path / "note.txt"
    path.write_text("file body")
    uploaded = await rest(client.rooms_media, room["_id"], str(path))
    file_id = uploaded["file"]["_id"]
    confirmed = await rest(client.rooms_media_confirm, room["_id"], file_id, msg="a file")
    assert confirmed["message"]["file"]["_id"] == file_id
    assert confirmed["message"]["msg"] == "a file"


async def test_rest_lists_join_settings(rc_sim: SimulatorServer) -> None:
    admin = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(admin.channels_create, "lobby"))["channel"]
    await rest(admin.users_create, "dave@example.org", "Dave", "dave-pw", "dave")
    dave = await rest_client(rc_sim, "dave", "dave-pw")
    assert [c["name"] for c in await rest(lambda: list(dave.channels_list()))] == ["lobby"]
    # The library always sends a join code; a room without one ignores it (joinRoom.ts).
    joined_room = await rest(dave.channels_join, room["_id"], "")
    assert joined_room["channel"]["_id"] == room["_id"]
    joined = await rest(lambda: list(dave.channels_list_joined()))
    assert [c["_id"] for c in joined] == [room["_id"]]
    assert [r["_id"] for r in (await rest(dave.rooms_get))["update"]] == [room["_id"]]
    (sub,) = (await rest(dave.subscriptions_get))["update"]
    assert sub["rid"] == room["_id"] and sub["u"]["username"] == "dave"
    assert (await rest(admin.settings_update, "Message_ErasureType", "Unlink"))["success"]
    assert rc_sim.state.settings["Message_ErasureType"] == "Unlink"


async def test_realtime_login_with_password_and_token(rc_sim: SimulatorServer) -> None:
    url = rc_sim.url.replace("http", "ws") + "/websocket"
    by_password = AsyncClient()
    await by_password.start(url, "admin", "admin-pass")
    by_token = AsyncClient()
    await by_token.resume(url, "bridge.bot", rc_sim.config.bot_token)
    try:
        assert by_password.user_id == rc_sim.admin.id
        assert by_token.user_id == rc_sim.bot.id
        wrong = AsyncClient()
        with pytest.raises(RuntimeError, match="Incorrect password"):
            await wrong.start(url, "admin", "not-the-password")
        wrong._ws_connection_task.cancel()
    finally:
        for client in (by_password, by_token):
            client._ws_connection_task.cancel()


async def test_realtime_subscription_receives_a_rest_post(
    rc_sim: SimulatorServer, realtime: AsyncClient
) -> None:
    rest_admin = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(rest_admin.channels_create, "live"))["channel"]
    assert (room["_id"], "c") in await realtime.get_channels()
    inbox = Inbox()
    await realtime.subscribe_to_channel_messages(room["_id"], inbox)
    await asyncio.sleep(0)  # the library sends ``sub`` without waiting for ``ready``
    posted = await rest(rest_admin.chat_post_message, "from REST", room_id=room["_id"])
    got = await inbox.wait_for(lambda m: m[2] == posted["message"]["_id"])
    channel_id, sender_id, _, thread_id, text, qualifier, _, repeated = got
    assert (channel_id, sender_id, text) == (room["_id"], rc_sim.admin.id, "from REST")
    assert thread_id is None and qualifier is None and repeated is False


async def test_realtime_send_thread_react_and_type(
    rc_sim: SimulatorServer, realtime: AsyncClient
) -> None:
    rest_admin = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(rest_admin.channels_create, "chatty"))["channel"]
    raw = Inbox()
    await realtime.subscribe_to_channel_messages_raw(room["_id"], raw)
    await realtime.send_message("sent over DDP", room["_id"])
    first = await raw.wait_for(lambda m: m["msg"] == "sent over DDP")
    await realtime.send_message("a reply", room["_id"], thread_id=first["_id"])
    reply = await raw.wait_for(lambda m: m["msg"] == "a reply")
    assert reply["tmid"] == first["_id"]
    await realtime.send_reaction(first["_id"], ":grin:")
    await raw.wait_for(lambda m: m["_id"] == first["_id"] and m.get("reactions"))
    await realtime.send_typing_event(room["_id"])
    await realtime.send_typing_event(room["_id"], thread_id=first["_id"])
    stored = rc_sim.state.messages[first["_id"]]
    assert stored["reactions"] == {":grin:": {"usernames": ["admin"]}}
    history = await rest(lambda: list(rest_admin.channels_history(room["_id"])))
    assert {m["msg"] for m in history} >= {"sent over DDP", "a reply"}


async def test_realtime_room_changes_stream(rc_sim: SimulatorServer, realtime: AsyncClient) -> None:
    changes = Inbox()
    await realtime.subscribe_to_channel_changes(changes)
    await asyncio.sleep(0)
    rest_admin = await rest_client(rc_sim, "admin", "admin-pass")
    room = (await rest(rest_admin.channels_create, "changing"))["channel"]
    await rest(rest_admin.chat_post_message, "bump", room_id=room["_id"])
    assert await changes.wait_for(lambda c: c == (room["_id"], "c"))
    raw_rooms = await realtime.get_channels_raw()
    assert [r["name"] for r in raw_rooms if r["_id"] == room["_id"]] == ["changing"]
    raw = Inbox()
    sub_id = await realtime.subscribe_to_channel_changes_raw(raw)
    await asyncio.sleep(0)
    await rest(rest_admin.chat_post_message, "bump again", room_id=room["_id"])
    action, changed = await raw.wait_for(lambda p: p[1]["_id"] == room["_id"])
    assert action == "updated" and changed["t"] == "c"
    await realtime.unsubscribe(sub_id)


def test_password_digest_is_what_the_library_sends() -> None:
    """rocketchat-async digests the password itself; the simulator compares digests."""
    frame = Login._get_request_msg("1", "admin", "admin-pass")
    digest = hashlib.sha256(b"admin-pass").hexdigest()
    assert frame["params"][0]["password"] == {"digest": digest, "algorithm": "sha-256"}


async def test_rest_people_rooms_and_deletion(
    rc_sim: SimulatorServer, rc_exchanges: list[Exchange], rc_invalid_requests: list[Exchange]
) -> None:
    """The library's calls around people and rooms, ending in a deletion as an admin does it."""
    admin = await rest_client(rc_sim, "admin", "admin-pass")
    created = await rest(admin.users_create, "erin@example.org", "Erin", "erin-pw", "erin")
    erin_id = created["user"]["_id"]
    assert (await rest(admin.users_info, username="erin"))["user"]["_id"] == erin_id
    assert "erin" in [u["username"] for u in await rest(lambda: list(admin.users_list()))]
    renamed = await rest(admin.users_update, erin_id, name="Erin E.")
    # The library sends no x-2fa-code/x-2fa-method, which the spec lists for users.update.
    rc_invalid_requests.append(rc_exchanges[-1])
    assert renamed["user"]["name"] == "Erin E."
    assert (await rest(admin.users_set_avatar, "https://example.org/e.png", userId=erin_id))[
        "success"
    ]
    assert (await rest(admin.users_reset_avatar, user_id=erin_id))["success"]
    room = (await rest(admin.channels_create, "people"))["channel"]
    assert (await rest(admin.channels_invite, room["_id"], erin_id))["success"]
    members = await rest(lambda: list(admin.channels_members(room_id=room["_id"])))
    assert {m["username"] for m in members} == {"admin", "erin"}
    assert (await rest(admin.rooms_info, room_id=room["_id"]))["room"]["name"] == "people"
    assert (await rest(admin.channels_info, room_id=room["_id"]))["channel"]["_id"] == room["_id"]
    dm = await rest(admin.dm_create, "erin")
    assert dm["room"]["t"] == "d"
    erin = await rest_client(rc_sim, "erin", "erin-pw")
    said = await rest(erin.chat_post_message, "erin was here", room_id=room["_id"])
    doomed = await rest(admin.chat_post_message, "to delete", room_id=room["_id"])
    assert (await rest(admin.chat_delete, room["_id"], doomed["message"]["_id"]))["success"]
    assert (await rest(admin.channels_kick, room["_id"], erin_id))["success"]
    assert (await rest(admin.users_delete, erin_id))["success"]
    assert said["message"]["_id"] not in rc_sim.state.messages  # Message_ErasureType Delete
    synced = await rest(admin.chat_sync_messages, room["_id"], "2000-01-01T00:00:00.000Z")
    deleted = {d["_id"] for d in synced["result"]["deleted"]}
    assert {said["message"]["_id"], doomed["message"]["_id"]} <= deleted
    assert (await rest(admin.logout))["success"]
