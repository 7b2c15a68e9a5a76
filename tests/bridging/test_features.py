"""Edits, deletions, reactions, threads, mentions and echo suppression, both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from mautrix.types import EventType

from bridge.ids import RCMessageID, RCRoomID
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@dataclass
class Chat:
    stack: BridgeStack
    room: Portal
    carol: RCRestClient
    carol_name: str
    alice: MatrixView  # on hs2
    bob: MatrixView  # on hs3

    @property
    def ghost_prefix(self) -> str:
        return "@" + self.stack.registration.user_prefix

    async def rc_says(self, text: str, body: str | None = None) -> tuple[str, str]:
        """Carol posts; returns (rc id, Matrix event id as alice sees it)."""
        message = await self.carol.post_message(RCRoomID(self.room.rc_room_id), text)

        async def seen() -> str | None:
            for e in await self.alice.messages(self.room.matrix_room_id, self.ghost_prefix):
                if e["content"].get("body") == (body or text):
                    return str(e["event_id"])
            return None

        return message.id, await wait_for(seen)

    async def alice_says(self, content: dict[str, object]) -> tuple[str, str]:
        """Alice sends; returns (Matrix event id, rc id once it arrived)."""
        event_id = await self.alice.send(self.room.matrix_room_id, content)
        rc_id = self.stack.app.ids.rc_message_id(event_id)

        async def arrived() -> str | None:
            history = await rc_history(self.carol, self.room.rc_room_id)
            return rc_id if any(m.id == rc_id for m in history) else None

        return event_id, await wait_for(arrived)


@pytest_asyncio.fixture(loop_scope="session")
async def chat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> AsyncIterator[Chat]:
    carol = await bridge_stack.rc_user()
    alice_user, bob_user = await make_user(1), await make_user(2)
    room = await portal([carol], [alice_user, bob_user])
    alice, bob = MatrixView(alice_user), MatrixView(bob_user)
    try:
        yield Chat(bridge_stack, room, carol, (await carol.me()).username, alice, bob)
    finally:
        await alice.close()
        await bob.close()


async def test_rocketchat_edit_becomes_matrix_replacement(chat: Chat) -> None:
    rc_id, event_id = await chat.rc_says("teh original")
    await chat.carol.update_message(RCRoomID(chat.room.rc_room_id), RCMessageID(rc_id), "the fix")

    async def replaced() -> dict[str, object] | None:
        for e in await chat.bob.messages(chat.room.matrix_room_id, chat.ghost_prefix):
            relates = e["content"].get("m.relates_to") or {}
            if relates.get("rel_type") == "m.replace" and relates.get("event_id") == event_id:
                return dict(e["content"]["m.new_content"])
        return None

    assert (await wait_for(replaced))["body"] == "the fix"


async def test_rocketchat_delete_redacts_on_every_server(chat: Chat) -> None:
    rc_id, event_id = await chat.rc_says("delete me please")
    await chat.carol.delete_message(RCRoomID(chat.room.rc_room_id), RCMessageID(rc_id))
    for view in (chat.alice, chat.bob):

        async def redacted(v: MatrixView = view) -> bool:
            return (await v.event(chat.room.matrix_room_id, event_id))["content"] == {}

        assert await wait_for(redacted)


async def test_matrix_edit_updates_rocketchat(chat: Chat) -> None:
    event_id, rc_id = await chat.alice_says({"msgtype": "m.text", "body": "draft"})
    await chat.alice.send(
        chat.room.matrix_room_id,
        {
            "msgtype": "m.text",
            "body": "* final",
            "m.new_content": {"msgtype": "m.text", "body": "final"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        },
    )

    async def updated() -> bool:
        message = await chat.carol.get_message(RCMessageID(rc_id))
        return message.text == "final" and message.edited_at is not None

    assert await wait_for(updated)


async def test_matrix_redaction_deletes_on_rocketchat(chat: Chat) -> None:
    event_id, rc_id = await chat.alice_says({"msgtype": "m.text", "body": "oops"})
    await chat.alice.client.redact(chat.room.matrix_room_id, event_id)

    async def gone() -> bool:
        history = await rc_history(chat.carol, chat.room.rc_room_id)
        return all(m.id != rc_id or m.is_deleted for m in history)

    assert await wait_for(gone)


async def test_reactions_cross_both_ways(chat: Chat) -> None:
    rc_id, event_id = await chat.rc_says("react to this")
    await chat.alice.send(
        chat.room.matrix_room_id,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": "👍"}},
        event_type="m.reaction",
    )

    async def reacted_on_rc() -> bool:
        message = await chat.carol.get_message(RCMessageID(rc_id))
        return bool(message.reactions.get(":thumbsup:") or message.reactions.get(":+1:"))

    assert await wait_for(reacted_on_rc)

    await chat.carol.react(RCMessageID(rc_id), ":tada:")

    async def reacted_on_matrix() -> bool:
        for e in await chat.bob.timeline(chat.room.matrix_room_id):
            relates = e["content"].get("m.relates_to") or {}
            if e["type"] == "m.reaction" and relates.get("key") == "🎉":
                return relates.get("event_id") == event_id
        return False

    assert await wait_for(reacted_on_matrix)


async def test_reaction_to_an_edited_message_crosses_and_so_does_its_removal(chat: Chat) -> None:
    """Rocket.Chat streams the whole message again after a reaction, ``editedAt`` kept
    (setReaction.ts): that is not a new edit, and the reaction must still cross."""
    room_id = RCRoomID(chat.room.rc_room_id)
    rc_id, event_id = await chat.rc_says("edit me, then react")
    await chat.carol.update_message(room_id, RCMessageID(rc_id), "edited, now react")

    async def replaced() -> bool:
        for e in await chat.bob.messages(chat.room.matrix_room_id, chat.ghost_prefix):
            relates = e["content"].get("m.relates_to") or {}
            if relates.get("rel_type") == "m.replace" and relates.get("event_id") == event_id:
                return True
        return False

    assert await wait_for(replaced)
    await chat.carol.react(RCMessageID(rc_id), ":tada:")

    async def reaction() -> str | None:
        for e in await chat.bob.timeline(chat.room.matrix_room_id):
            relates = e["content"].get("m.relates_to") or {}
            if e["type"] == "m.reaction" and relates.get("event_id") == event_id:
                return str(e["event_id"]) if relates.get("key") == "🎉" else None
        return None

    reaction_id = await wait_for(reaction)
    await chat.carol.react(RCMessageID(rc_id), ":tada:", should_react=False)

    async def removed() -> bool:
        return (await chat.bob.event(chat.room.matrix_room_id, reaction_id))["content"] == {}

    assert await wait_for(removed)
    replacements = [
        e
        for e in await chat.bob.messages(chat.room.matrix_room_id, chat.ghost_prefix)
        if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") == event_id
    ]
    assert len(replacements) == 1  # the re-streamed message was not a second edit


async def test_threads_cross_both_ways(chat: Chat) -> None:
    root_rc, root_event = await chat.rc_says("thread root")
    _, reply_rc = await chat.alice_says(
        {
            "msgtype": "m.text",
            "body": "reply in thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root_event},
        }
    )
    assert (await chat.carol.get_message(RCMessageID(reply_rc))).thread_id == root_rc

    await chat.carol.post_message(RCRoomID(chat.room.rc_room_id), "rc thread reply", tmid=root_rc)

    async def threaded() -> bool:
        for e in await chat.bob.messages(chat.room.matrix_room_id, chat.ghost_prefix):
            if e["content"].get("body") == "rc thread reply":
                relates = e["content"]["m.relates_to"]
                return relates["rel_type"] == "m.thread" and relates["event_id"] == root_event
        return False

    assert await wait_for(threaded)


async def test_mentions_map_to_the_other_sides_people(chat: Chat) -> None:
    # Alice speaks first so that she has a shadow account to mention.
    await chat.alice_says({"msgtype": "m.text", "body": "hello"})
    alice_shadow = chat.stack.app.ids.shadow_username(chat.alice.user.user_id)
    # The plain body names the person as Matrix clients know them (their shadow's name).
    alice_name = await chat.alice.client.get_displayname(chat.alice.client.mxid)
    _, event_id = await chat.rc_says(f"thanks @{alice_shadow}!", body=f"thanks {alice_name}!")
    event = await chat.alice.event(chat.room.matrix_room_id, event_id)  # alice saw it arrive
    assert event["content"]["m.mentions"] == {"user_ids": [chat.alice.user.user_id]}
    assert f"https://matrix.to/#/{chat.alice.user.user_id}" in event["content"]["formatted_body"]

    carol_ghost = chat.stack.app.ids.ghost_user_id(chat.carol_name)
    _, rc_id = await chat.alice_says(
        {
            "msgtype": "m.text",
            "body": "Carol: ping",
            "format": "org.matrix.custom.html",
            "formatted_body": f'<a href="https://matrix.to/#/{carol_ghost}">Carol</a>: ping',
        }
    )
    assert (await chat.carol.get_message(RCMessageID(rc_id))).text == f"@{chat.carol_name}: ping"


async def test_nothing_echoes_back(chat: Chat) -> None:
    await chat.rc_says("from rc, once")
    await chat.alice_says({"msgtype": "m.text", "body": "from matrix, once"})
    await asyncio.sleep(2)  # time for any echo to show up
    history = [m.text for m in await rc_history(chat.carol, chat.room.rc_room_id)]
    assert history.count("from rc, once") == 1
    assert history.count("from matrix, once") == 1
    bodies = [e["content"].get("body") for e in await chat.bob.messages(chat.room.matrix_room_id)]
    assert bodies.count("from rc, once") == 1
    assert bodies.count("from matrix, once") == 1


async def test_files_cross_both_ways(chat: Chat) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 50
    mxc = await chat.alice.client.upload_media(png, mime_type="image/png", filename="pic.png")
    await chat.alice.send(
        chat.room.matrix_room_id,
        {"msgtype": "m.image", "body": "pic.png", "url": mxc, "info": {"mimetype": "image/png"}},
    )

    async def uploaded() -> list[str] | None:
        # rooms.mediaConfirm picks the message id itself, so look for the file by name.
        for m in await rc_history(chat.carol, chat.room.rc_room_id):
            if m.files:
                return [f.name or "" for f in m.files]
        return None

    assert await wait_for(uploaded) == ["pic.png"]

    await chat.carol.upload(
        RCRoomID(chat.room.rc_room_id), b"report body", "report.txt", "text/plain"
    )

    async def arrived() -> dict[str, object] | None:
        for e in await chat.bob.messages(chat.room.matrix_room_id, chat.ghost_prefix):
            if e["content"].get("msgtype") == "m.file" and e["content"]["body"] == "report.txt":
                return dict(e["content"])
        return None

    content = await wait_for(arrived)
    assert str(content["url"]).startswith("mxc://")
    data = await chat.bob.client.download_media(content["url"])  # type: ignore[arg-type]
    assert data == b"report body"


async def test_rocketchat_membership_moves_the_ghost(chat: Chat) -> None:
    dave = await chat.stack.rc_user()
    dave_name = (await dave.me()).username
    me = dave.login_info
    assert me is not None
    admin = chat.stack.app.rocketchat
    assert admin is not None
    await admin.admin.room_invite("channels", RCRoomID(chat.room.rc_room_id), me.user_id)
    ghost = chat.stack.app.ids.ghost_user_id(dave_name)

    async def joined() -> bool:
        members = await chat.bob.client.get_joined_members(chat.room.matrix_room_id)
        return ghost in members

    assert await wait_for(joined)


async def test_leaving_matrix_removes_the_shadow_from_rocketchat(chat: Chat) -> None:
    await chat.alice_says({"msgtype": "m.text", "body": "bye soon"})
    shadow = chat.stack.app.ids.shadow_username(chat.alice.user.user_id)
    admin = chat.stack.app.rocketchat
    assert admin is not None
    members = await admin.admin.room_members("channels", RCRoomID(chat.room.rc_room_id))
    assert shadow in members
    await chat.alice.client.leave_room(chat.room.matrix_room_id)

    async def gone() -> bool:
        names = await admin.admin.room_members("channels", RCRoomID(chat.room.rc_room_id))
        return shadow not in names

    assert await wait_for(gone)


async def test_removal_from_rocketchat_makes_the_ghost_leave(chat: Chat) -> None:
    await chat.rc_says("still here")
    ghost = chat.stack.app.ids.ghost_user_id(chat.carol_name)
    me = chat.carol.login_info
    admin = chat.stack.app.rocketchat
    assert me is not None and admin is not None
    await admin.admin.room_kick("channels", RCRoomID(chat.room.rc_room_id), me.user_id)

    async def left() -> bool:
        return ghost not in await chat.bob.client.get_joined_members(chat.room.matrix_room_id)

    assert await wait_for(left)


async def test_over_long_messages_are_refused_with_a_notice_both_ways(chat: Chat) -> None:
    limit = chat.stack.config.bridge.max_body_chars
    long_text = "x" * (limit + 1)
    await chat.alice.send(chat.room.matrix_room_id, {"msgtype": "m.text", "body": long_text})

    async def notice_on_matrix() -> bool:
        return any(
            "was not bridged to Rocket.Chat" in str(e["content"].get("body"))
            for e in await chat.bob.timeline(chat.room.matrix_room_id)
        )

    assert await wait_for(notice_on_matrix)
    # Rocket.Chat caps messages itself (Message_MaxAllowedSize); let this one through.
    chat.stack.sim.state.settings["Message_MaxAllowedSize"] = limit + 10
    await chat.carol.post_message(RCRoomID(chat.room.rc_room_id), "y" * (limit + 1))

    async def notice_on_rc() -> bool:
        history = await rc_history(chat.carol, chat.room.rc_room_id)
        return any("was not bridged to Matrix" in m.text for m in history)

    assert await wait_for(notice_on_rc)
    history = [m.text for m in await rc_history(chat.carol, chat.room.rc_room_id)]
    assert long_text not in history
    bodies = [e["content"].get("body") for e in await chat.bob.messages(chat.room.matrix_room_id)]
    assert "y" * (limit + 1) not in bodies


async def test_bulk_prune_on_rocketchat_redacts_on_matrix(chat: Chat) -> None:
    _, first = await chat.rc_says("prune me 1")
    _, second = await chat.rc_says("prune me 2")
    _, kept_rc = await chat.alice_says({"msgtype": "m.text", "body": "not carol's"})
    admin = chat.stack.app.rocketchat
    assert admin is not None
    history = await rc_history(chat.carol, chat.room.rc_room_id)
    await admin.admin.clean_history(
        RCRoomID(chat.room.rc_room_id),
        oldest=history[0].ts,
        latest=history[-1].ts,
        users=[chat.carol_name],
    )
    for event_id in (first, second):

        async def redacted(e: str = event_id) -> bool:
            return (await chat.bob.event(chat.room.matrix_room_id, e))["content"] == {}

        assert await wait_for(redacted)
    remaining = [m.id for m in await rc_history(chat.carol, chat.room.rc_room_id)]
    assert kept_rc in remaining, "the prune named only carol"


async def test_ghost_avatar_is_copied_and_follows_changes(chat: Chat) -> None:
    me = await chat.carol.me()
    ghost = chat.stack.app.ids.ghost_user_id(chat.carol_name)
    await chat.rc_says("look at my picture")

    async def avatar() -> str | None:
        url = await chat.bob.client.get_avatar_url(ghost)  # type: ignore[arg-type]
        return str(url) if url else None

    first = await wait_for(avatar)
    assert first.startswith("mxc://")

    chat.stack.sim.state.users[me.id].avatar_url = "https://pictures.invalid/new.png"
    # Rocket.Chat does not announce avatar changes: the bridge compares again once the
    # last check is an hour old. Make it so, then speak.
    async with chat.stack.app.db.unit_of_work() as uow:
        row = await uow.bridging.ghost(me.id)
        assert row is not None and row.avatar_hash is not None
        await uow.bridging.set_ghost_profile(
            me.id, row.display_name, row.avatar_url, avatar_hash=row.avatar_hash, checked_ms=1
        )
    await chat.rc_says("new picture")

    async def changed() -> str | None:
        now = await avatar()
        return now if now and now != first else None

    assert (await wait_for(changed)).startswith("mxc://")


async def test_portal_room_takes_the_rocketchat_name_topic_and_avatar(
    bridge_stack: BridgeStack,
) -> None:
    admin = await bridge_stack.rc_user()
    room = await admin.room_create("channels", "topical-room")
    bridge_stack.sim.state.rooms[room.id].topic = "Budget talks (no personal data please)"
    portal_id = await bridge_stack.app.link(room.id)

    async def created() -> str | None:
        async with bridge_stack.app.db.unit_of_work() as uow:
            portal = await uow.bridging.portal_by_id(portal_id)
        return None if portal is None else portal.matrix_room_id

    matrix_room = await wait_for(created)
    bot = bridge_stack.bot_client()
    try:
        topic = await bot.get_state_event(matrix_room, EventType.ROOM_TOPIC)  # type: ignore[arg-type]
        name = await bot.get_state_event(matrix_room, EventType.ROOM_NAME)  # type: ignore[arg-type]
        avatar = await bot.get_state_event(matrix_room, EventType.ROOM_AVATAR)  # type: ignore[arg-type]
    finally:
        await bot.api.session.close()
    assert topic.topic == "Budget talks (no personal data please)"
    assert name.name == "topical-room"
    assert str(avatar.url).startswith("mxc://")
