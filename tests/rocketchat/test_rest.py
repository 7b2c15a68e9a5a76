"""REST client against the simulator: auth, messages, rooms, users, uploads, prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.ids import RCMessageID, RCUsername
from bridge.rocketchat.errors import RCAuthError, RCBadRequestError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import Exchange, SimulatorServer
from tests.fixtures.rocketchat import FAST_RETRY


async def test_pat_auth_and_me(rc_bot: RCRestClient, rc_sim: SimulatorServer) -> None:
    me = await rc_bot.me()
    assert me.id == rc_sim.bot.id
    assert me.username == "bridge.bot"
    assert "bot" in me.roles


async def test_password_login_then_logout_invalidates_token(rc_sim: SimulatorServer) -> None:
    async with RCRestClient(rc_sim.url, retry=FAST_RETRY) as client:
        login = await client.login("admin", "admin-pass")
        assert login.user_id == rc_sim.admin.id
        assert (await client.me()).username == "admin"
        await client.logout()
        assert client.login_info is None
    async with RCRestClient.with_token(rc_sim.url, login.user_id, login.auth_token) as stale:
        with pytest.raises(RCAuthError) as err:
            await stale.me()
    assert err.value.status == 401
    assert "logged in" in err.value.error


async def test_wrong_password_is_auth_error(rc_sim: SimulatorServer) -> None:
    async with RCRestClient(rc_sim.url, retry=FAST_RETRY) as client:
        with pytest.raises(RCAuthError) as err:
            await client.login("admin", "wrong")
    assert err.value.status == 401
    assert client.login_info is None


async def test_unknown_user_login_is_auth_error(rc_sim: SimulatorServer) -> None:
    async with RCRestClient(rc_sim.url, retry=FAST_RETRY) as client:
        with pytest.raises(RCAuthError):
            await client.login("nobody", "x")


async def test_bad_token_and_missing_headers_are_401(
    rc_sim: SimulatorServer, rc_exchanges: list[Exchange], rc_invalid_requests: list[Exchange]
) -> None:
    async with RCRestClient.with_token(rc_sim.url, rc_sim.bot.id, "forged") as client:
        with pytest.raises(RCAuthError):
            await client.me()
    async with RCRestClient.with_token(rc_sim.url, "no-such-user", rc_sim.config.bot_token) as c2:
        with pytest.raises(RCAuthError):
            await c2.me()
    before = len(rc_exchanges)
    async with RCRestClient(rc_sim.url) as anonymous:
        with pytest.raises(RCAuthError):
            await anonymous.me()
    rc_invalid_requests.extend(rc_exchanges[before:])  # no auth headers, on purpose


async def test_send_edit_react_delete_round_trip(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "roundtrip")
    sent = await rc_bot.send_message(room.id, "hello", message_id=RCMessageID("mx-1"))
    assert sent.message.id == "mx-1" and not sent.existing
    edited = await rc_bot.update_message(room.id, sent.message.id, "hello again")
    assert edited.text == "hello again" and edited.is_edited
    assert edited.edited_by is not None and edited.edited_by.username == "bridge.bot"
    await rc_bot.react(sent.message.id, "thumbsup")
    fetched = await rc_bot.get_message(sent.message.id)
    assert fetched.reactions == {":thumbsup:": (RCUsername("bridge.bot"),)}
    await rc_bot.delete_message(room.id, sent.message.id)
    with pytest.raises(RCBadRequestError) as err:
        await rc_bot.get_message(sent.message.id)
    assert "No message found" in err.value.error


async def test_send_with_same_id_twice_returns_existing(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("groups", "idempotent")
    first = await rc_bot.send_message(room.id, "once", message_id=RCMessageID("outbox-42"))
    again = await rc_bot.send_message(room.id, "once", message_id=RCMessageID("outbox-42"))
    assert again.existing
    assert again.message.id == first.message.id
    history = await rc_bot.room_history("groups", room.id)
    assert [m.id for m in history] == ["outbox-42"]


async def test_post_message_and_thread_reply(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "threads")
    parent = await rc_bot.post_message(room.id, "parent")
    reply = await rc_bot.send_message(room.id, "reply", thread_id=parent.id)
    assert reply.message.thread_id == parent.id
    assert (await rc_bot.get_message(parent.id)).thread_count == 1


async def test_upload_posts_a_file_message(rc_bot: RCRestClient, rc_sim: SimulatorServer) -> None:
    room = await rc_bot.room_create("channels", "files")
    message = await rc_bot.upload(room.id, b"\x89PNG...", "pic.png", "image/png", text="look")
    assert message.text == "look"
    assert [(f.name, f.type, f.size) for f in message.files] == [("pic.png", "image/png", 7)]
    assert message.attachments[0].title_link == f"/file-upload/{message.files[0].id}/pic.png"
    resp = await rc_bot.transport.session.get(
        rc_sim.url + message.attachments[0].title_link, headers=rc_bot.transport.auth_headers()
    )
    async with resp:
        assert await resp.read() == b"\x89PNG..."


async def test_users_and_rooms(rc_admin: RCRestClient, rc_bot: RCRestClient) -> None:
    user = await rc_admin.users_create("alice", "Alice", "alice@example.org", "pw")
    assert (await rc_admin.users_info(username="alice")).id == user.id
    assert "alice" in [u.username for u in await rc_admin.users_list()]
    await rc_admin.users_set_avatar("https://example.org/a.png", user_id=user.id)
    room = await rc_bot.room_create("groups", "private-room", members=["alice"])
    assert (await rc_bot.rooms_info(room.id)).type == "p"
    assert (await rc_bot.room_info("groups", room.id)).name == "private-room"
    channel = await rc_bot.room_create("channels", "public-room")
    await rc_bot.room_invite("channels", channel.id, user.id)
    assert set(await rc_bot.room_members("channels", channel.id)) == {"bridge.bot", "alice"}
    dm = await rc_bot.im_create("alice")
    assert dm.type == "d" and set(dm.usernames) == {"alice", "bridge.bot"}
    await rc_bot.send_message(dm.id, "psst")
    assert [m.text for m in await rc_bot.room_history("im", dm.id)] == ["psst"]
    await rc_admin.users_delete(user.id)
    with pytest.raises(RCBadRequestError):
        await rc_admin.users_info(user_id=user.id)


async def test_clean_history_by_username_skips_threads_by_default(
    rc_admin: RCRestClient, rc_bot: RCRestClient
) -> None:
    room = await rc_bot.room_create("channels", "prune")
    start = datetime.now(UTC) - timedelta(seconds=1)
    keep = await rc_bot.post_message(room.id, "keep?")
    reply = await rc_bot.send_message(room.id, "in thread", thread_id=keep.id)
    plain = await rc_bot.post_message(room.id, "plain")
    end = datetime.now(UTC) + timedelta(seconds=1)
    body = {
        "roomId": room.id,
        "oldest": start.isoformat(),
        "latest": end.isoformat(),
        "users": ["bridge.bot"],
    }
    # Server default ignoreThreads=true: the parent and its reply survive.
    answer = await rc_admin.transport.call("POST", "rooms.cleanHistory", json_body=body)
    assert answer["count"] == 1 and answer["_id"] == room.id
    remaining = {m.id for m in await rc_bot.room_history("channels", room.id)}
    assert remaining == {keep.id, reply.message.id}
    assert plain.id not in remaining
    # The connector's prune includes threads: an erasure must not leave replies behind.
    result = await rc_admin.clean_history(
        room.id, oldest=start, latest=end, users=[RCUsername("bridge.bot")]
    )
    assert result.count == 2
    assert await rc_bot.room_history("channels", room.id) == []
