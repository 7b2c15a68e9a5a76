"""The simulator's realtime methods and user/logged/all streams, frame by frame."""

from __future__ import annotations

from typing import Any

import aiohttp

from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.app import SimulatorServer
from tests.rocketchat.ddp_client import ddp, digest


async def test_password_digest_login_by_username_and_email(rc_sim: SimulatorServer) -> None:
    async with ddp(rc_sim, None) as client:
        bad = await client.call("login", {"user": {"username": "admin"}, "password": digest("x")})
        assert bad["error"]["error"] == 403 and bad["error"]["reason"] == "Incorrect password"
        assert rc_sim.state.user_by_name("admin") is not None
        unknown = await client.call(
            "login", {"user": {"username": "nobody"}, "password": digest("x")}
        )
        assert unknown["error"]["reason"] == "User not found"
        email = rc_sim.admin.email
        ok = await client.call(
            "login", {"user": {"email": email}, "password": digest("admin-pass")}
        )
        assert ok["result"]["id"] == rc_sim.admin.id and ok["result"]["type"] == "password"
        assert ok["result"]["token"] in rc_sim.admin.tokens
    async with ddp(rc_sim, {"resume": ok["result"]["token"]}) as resumed:
        rooms = await resumed.call("rooms/get")
        assert rooms["result"] == []


async def test_methods_need_a_login_and_unknown_methods_are_404(rc_sim: SimulatorServer) -> None:
    async with ddp(rc_sim, None) as client:
        anonymous = await client.call("sendMessage", {"rid": "x", "msg": "hi"})
        assert anonymous["error"]["error"] == "error-invalid-user"
        missing = await client.call("no.such.method")
        assert missing["error"]["error"] == 404
        for listing in ("rooms/get", "subscriptions/get"):  # these answer [] instead
            assert (await client.call(listing))["result"] == []


async def test_send_update_delete_and_history_over_ddp(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    room = await rc_admin.room_create("channels", "ddp")
    async with ddp(rc_sim, {"resume": rc_admin.login_info.auth_token}) as client:  # type: ignore[union-attr]
        sent = await client.call("sendMessage", {"_id": "client-id-1", "rid": room.id, "msg": "a"})
        assert sent["result"]["_id"] == "client-id-1" and "$date" in sent["result"]["ts"]
        updated = await client.call(
            "updateMessage", {"_id": "client-id-1", "rid": room.id, "msg": "b"}
        )
        assert "result" not in updated and "error" not in updated
        assert rc_sim.state.messages["client-id-1"]["msg"] == "b"
        moved = await client.call("updateMessage", {"_id": "client-id-1", "rid": "x", "msg": "c"})
        assert moved["error"]["error"] == "error-invalid-update-key"
        assert rc_sim.state.messages["client-id-1"]["msg"] == "b"
        history = await client.call("loadHistory", room.id, None, 10, None)
        assert [m["_id"] for m in history["result"]["messages"]] == ["client-id-1"]
        deleted = await client.call("deleteMessage", {"_id": "client-id-1"})
        assert "error" not in deleted
        assert "client-id-1" not in rc_sim.state.messages
        again = await client.call("deleteMessage", {"_id": "client-id-1"})
        assert again["error"]["error"] == "error-action-not-allowed"
        subs = await client.call("subscriptions/get")
        assert [s["rid"] for s in subs["result"]] == [room.id]


async def test_send_message_checks_keys_and_swallows_most_failures(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    """sendMessage.ts: check() refuses unknown keys; of executeSendMessage's failures only
    error-not-allowed reaches the caller, the rest leave an empty result."""
    room = await rc_admin.room_create("channels", "strict")
    async with ddp(rc_sim, {"resume": rc_admin.login_info.auth_token}) as client:  # type: ignore[union-attr]
        aliased = await client.call("sendMessage", {"rid": room.id, "msg": "x", "alias": "Y"})
        assert aliased["error"]["error"] == 400 and aliased["error"]["reason"] == "Match failed"
        huge = await client.call("sendMessage", {"rid": room.id, "msg": "x" * 6000})
        assert "error" not in huge and "result" not in huge
        system = await client.call("sendMessage", {"rid": room.id, "msg": "x", "t": "uj"})
        assert system["error"]["error"] == 500
    assert not [m for m in rc_sim.state.messages.values() if m["rid"] == room.id]


async def test_refused_send_explains_itself_on_the_user_stream(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    room = await rc_admin.room_create("groups", "closed")
    carol = rc_sim.state.user_by_name("carol")
    assert carol is not None and rc_user.login_info is not None
    async with ddp(rc_sim, {"resume": rc_user.login_info.auth_token}) as client:
        await client.sub("stream-notify-user", f"{carol.id}/message")
        refused = await client.call("sendMessage", {"rid": room.id, "msg": "let me in"})
        assert refused["error"]["error"] == "error-not-allowed"
        (ephemeral,) = await client.event("stream-notify-user", f"{carol.id}/message")
        assert ephemeral["u"]["username"] == "rocket.cat" and ephemeral["private"] is True
    assert not [m for m in rc_sim.state.messages.values() if m["msg"] == "let me in"]


async def test_typing_reaches_other_members_only(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_bot: RCRestClient
) -> None:
    room = await rc_admin.room_create("channels", "typing", members=["bridge.bot"])
    admin_token = rc_admin.login_info.auth_token  # type: ignore[union-attr]
    async with (
        ddp(rc_sim, {"resume": admin_token}) as typist,
        ddp(rc_sim, {"resume": rc_sim.config.bot_token}) as watcher,
    ):
        for client in (typist, watcher):
            await client.sub("stream-notify-room", f"{room.id}/user-activity")
        ok = await typist.call(
            "stream-notify-room", f"{room.id}/user-activity", "admin", ["user-typing"], {}
        )
        assert "error" not in ok
        args = await watcher.event("stream-notify-room", f"{room.id}/user-activity")
        assert args == ["admin", ["user-typing"], {}]
        forged = await typist.call(
            "stream-notify-room", f"{room.id}/user-activity", "bridge.bot", ["user-typing"], {}
        )
        assert forged["error"]["error"] == "not-allowed"
        # Servers before user-activity carried typing as <rid>/typing [username, bool].
        await watcher.sub("stream-notify-room", f"{room.id}/typing")
        await typist.call("stream-notify-room", f"{room.id}/typing", "admin", True)
        assert await watcher.event("stream-notify-room", f"{room.id}/typing") == ["admin", True]
        assert not [f for f in typist.seen if f.get("msg") == "changed"]


async def test_user_stream_rooms_and_subscriptions_changed_and_notification(
    rc_sim: SimulatorServer, rc_admin: RCRestClient
) -> None:
    bot = rc_sim.bot
    async with ddp(rc_sim, {"resume": rc_sim.config.bot_token}) as client:
        for event in ("rooms-changed", "subscriptions-changed", "notification"):
            ready = await client.sub("stream-notify-user", f"{bot.id}/{event}")
            assert ready["msg"] == "ready"
        other = await client.sub("stream-notify-user", f"{rc_sim.admin.id}/notification")
        assert other["msg"] == "nosub"
        room = await rc_admin.room_create("channels", "invited")
        await rc_admin.room_invite("channels", room.id, bot.id)
        action, sub = await client.event("stream-notify-user", f"{bot.id}/subscriptions-changed")
        assert action == "inserted" and sub["rid"] == room.id and sub["u"]["_id"] == bot.id
        await rc_admin.post_message(room.id, "hey @bridge.bot")
        (note,) = await client.event("stream-notify-user", f"{bot.id}/notification")
        assert note["payload"]["rid"] == room.id and note["text"] == "hey @bridge.bot"
        assert note["payload"]["sender"]["username"] == "admin"


async def test_logged_and_all_streams(rc_sim: SimulatorServer, rc_admin: RCRestClient) -> None:
    async with (
        ddp(rc_sim, None) as anonymous,
        ddp(rc_sim, {"resume": rc_sim.config.bot_token}) as client,
    ):
        assert (await anonymous.sub("stream-notify-logged", "Users:NameChanged"))["msg"] == "nosub"
        await anonymous.sub("stream-notify-all", "public-settings-changed")
        await client.sub("stream-notify-logged", "user-status")
        async with ddp(rc_sim, {"resume": rc_admin.login_info.auth_token}):  # type: ignore[union-attr]
            ((uid, username, status, *_),) = await client.event(
                "stream-notify-logged", "user-status"
            )
            assert (uid, username, status) == (rc_sim.admin.id, "admin", 1)
        ((_, _, status, *_),) = await client.event("stream-notify-logged", "user-status")
        assert status == 0
        login = rc_admin.login_info
        assert login is not None
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{rc_sim.url}/api/v1/settings/Message_AllowEditing",
                json={"value": False},
                headers={"X-User-Id": login.user_id, "X-Auth-Token": login.auth_token},
            ) as r,
        ):
            assert r.status == 200
        args = await anonymous.event("stream-notify-all", "public-settings-changed")
        assert args == ["updated", {"_id": "Message_AllowEditing", "value": False}]


def test_ops_streams_a_reaction_with_edited_at_kept(rc_sim: SimulatorServer) -> None:
    """setReaction.ts saves the whole message again: the stream repeats ``editedAt``."""
    seen: list[dict[str, Any]] = []
    rc_sim.state.listeners.append(
        lambda kind, doc: seen.append(dict(doc)) if kind == "message" else None
    )
    room = rc_sim.state.add_room("c", "r", rc_sim.admin, [])
    doc = ops.create_message(rc_sim.state, rc_sim.admin, room, {"msg": "x"})
    ops.update_message(rc_sim.state, rc_sim.admin, room, doc, "y")
    ops.react(rc_sim.state, rc_sim.admin, doc, "smile", None)
    assert seen[-1]["reactions"] and seen[-1]["editedAt"] == seen[-2]["editedAt"]


def test_ops_reaction_names_and_no_op_reactions(rc_sim: SimulatorServer) -> None:
    """setReaction.ts: ``::smile`` and ``smile`` are ``:smile:``; reacting as one already
    has streams nothing; the last reaction removed takes the field with it."""
    seen: list[str] = []
    rc_sim.state.listeners.append(lambda kind, doc: seen.append(kind))
    room = rc_sim.state.add_room("c", "r", rc_sim.admin, [])
    doc = ops.create_message(rc_sim.state, rc_sim.admin, room, {"msg": "x"})
    seen.clear()
    ops.react(rc_sim.state, rc_sim.admin, doc, "::smile", True)
    ops.react(rc_sim.state, rc_sim.admin, doc, "smile", True)
    assert doc["reactions"] == {":smile:": {"usernames": ["admin"]}}
    assert seen == ["message"]
    ops.react(rc_sim.state, rc_sim.admin, doc, ":smile:", None)
    assert "reactions" not in doc and seen == ["message", "message"]
