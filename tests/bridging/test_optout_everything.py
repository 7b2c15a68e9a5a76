"""Opt-out covers everything that crosses, both ways: messages, edits, reactions, and the
person's profile and presence (a shadow or a ghost joining with their name)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.ids import RCMessageID, RCRoomID
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.commands.helpers import ask_matrix, ask_rc, matrix_dm, rc_dm
from tests.erasure.helpers import say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _on_rocketchat(client: RCRestClient, room: Portal, text: str) -> bool:
    return text in [m.text for m in await rc_history(client, room.rc_room_id)]


async def test_nothing_of_an_opted_out_matrix_user_reaches_rocketchat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    dave_user, bob_user, erin_user = await make_user(1), await make_user(1), await make_user(1)
    room = await portal([carol], [dave_user, bob_user])
    dave, bob, erin = MatrixView(dave_user), MatrixView(bob_user), MatrixView(erin_user)
    rid = RoomID(room.matrix_room_id)
    try:
        before = await dave.send(rid, {"msgtype": "m.text", "body": "dave before"})
        await wait_for(lambda: _on_rocketchat(carol, room, "dave before"), 60)
        carol_msg, carol_event = await say(carol, room, bob, "carol says")
        for view in (dave, erin):
            await ask_matrix(
                bridge_stack, view, await matrix_dm(bridge_stack, view), "!privacy optout", "opted"
            )
        # A reaction and an edit by dave, while opted out.
        relates = {"rel_type": "m.annotation", "event_id": carol_event, "key": "👍"}
        await dave.send(rid, {"m.relates_to": relates}, "m.reaction")
        edit = {
            "msgtype": "m.text",
            "body": "* dave edited",
            "m.new_content": {"msgtype": "m.text", "body": "dave edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": before},
        }
        await dave.send(rid, edit)
        await bob.send(rid, {"msgtype": "m.text", "body": "bob after"})
        await wait_for(lambda: _on_rocketchat(carol, room, "bob after"), 60)
        # Same room, same order: what dave did was handled before bob's message crossed.
        reacted = await carol.get_message(RCMessageID(carol_msg))
        assert not reacted.reactions, reacted.reactions
        texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
        assert "dave before" in texts and "dave edited" not in texts
        # Erin, opted out, joins a bridged room after bob: no shadow with her name.
        second = await portal([carol], [erin_user, bob_user])

        async def bob_joined() -> bool:
            async with bridge_stack.app.db.unit_of_work() as uow:
                return bool(await uow.bridging.shadow(bob_user.user_id))

        await wait_for(bob_joined, 60)
        await bob.send(second.matrix_room_id, {"msgtype": "m.text", "body": "bob in second"})
        await wait_for(lambda: _on_rocketchat(carol, second, "bob in second"), 60)
        async with bridge_stack.app.db.unit_of_work() as uow:
            assert await uow.bridging.shadow(erin_user.user_id) is None
        localpart = erin_user.user_id[1:].split(":")[0]
        names = [u.username for u in bridge_stack.sim.state.users.values()]
        assert not [n for n in names if localpart in n], names
    finally:
        for view in (dave, bob, erin):
            await view.close()


async def test_nothing_of_an_opted_out_rocketchat_user_reaches_matrix(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    frank, dan = await bridge_stack.rc_user(), await bridge_stack.rc_user()
    frank_me = await frank.me()
    watcher = await make_user(1)
    room = await portal([frank, dan], [watcher])
    second = await portal([dan], [watcher])
    view = MatrixView(watcher)
    rid = RoomID(room.matrix_room_id)
    try:
        frank_msg, frank_event = await say(frank, room, view, "frank before")
        dan_msg, dan_event = await say(dan, room, view, "dan says")
        await ask_rc(frank, await rc_dm(frank), "!privacy optout", "opted out")
        ghost = await _ghost_of(bridge_stack, frank_me.id)
        # A reaction, an edit, and a join of another bridged room, while opted out.
        await frank.react(RCMessageID(dan_msg), ":thumbsup:")
        await frank.update_message(
            RCRoomID(room.rc_room_id), RCMessageID(frank_msg), "frank edited"
        )
        transport = frank.transport
        async with transport.session.post(
            bridge_stack.sim.url + "/api/v1/channels.join",
            json={"roomId": second.rc_room_id},
            headers=transport.auth_headers(),
        ) as resp:
            assert resp.status == 200, await resp.text()
        await say(dan, room, view, "dan after")
        await say(dan, second, view, "dan in second")
        # Same rooms, same order: frank's doings were handled before dan's messages.
        timeline = await view.timeline(rid)
        from_ghost = [e for e in timeline if e["sender"] == ghost]
        assert not [e for e in from_ghost if e["type"] == "m.reaction"]
        assert not [e for e in timeline if "frank edited" in str(e["content"])]
        members = await view.client.get_joined_members(RoomID(second.matrix_room_id))
        assert ghost not in members
    finally:
        await view.close()


async def _ghost_of(stack: BridgeStack, rc_user_id: str) -> str:
    async with stack.app.db.unit_of_work() as uow:
        ghost = await uow.bridging.ghost(rc_user_id)
    assert ghost is not None
    return ghost.matrix_user_id


async def test_a_reply_or_mention_carries_no_words_or_name_of_an_opted_out_person(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    """Bob replies to what dave said after opting out; his client quotes dave's message
    at the head of the reply (the spec's reply fallback, in the plain body and in the
    HTML). Bob's words cross, dave's do not; nor does dave's display name, which bob's
    client puts into a mention of him."""
    carol = await bridge_stack.rc_user()
    dave_user, bob_user = await make_user(1), await make_user(1)
    room = await portal([carol], [dave_user, bob_user])
    dave, bob = MatrixView(dave_user), MatrixView(bob_user)
    rid = RoomID(room.matrix_room_id)
    try:
        await ask_matrix(
            bridge_stack, dave, await matrix_dm(bridge_stack, dave), "!privacy optout", "opted"
        )
        secret = await dave.send(rid, {"msgtype": "m.text", "body": "dave kept this here"})
        quote = f"> <{dave_user.user_id}> dave kept this here"
        in_reply = {"m.in_reply_to": {"event_id": secret}}
        await bob.send(
            rid,
            {"msgtype": "m.text", "body": f"{quote}\n\nbob plain reply", "m.relates_to": in_reply},
        )
        await bob.send(
            rid,
            {
                "msgtype": "m.text",
                "body": f"{quote}\n\nbob html reply",
                "format": "org.matrix.custom.html",
                "formatted_body": (
                    f"<mx-reply><blockquote>{dave_user.user_id}<br>dave kept this here"
                    "</blockquote></mx-reply>bob html reply"
                ),
                "m.relates_to": in_reply,
            },
        )
        display = "Davina Optedout"
        pill = f'<a href="https://matrix.to/#/{dave_user.user_id}">{display}</a>'
        await bob.send(
            rid,
            {
                "msgtype": "m.text",
                "body": f"{display}: bob mentions",
                "format": "org.matrix.custom.html",
                "formatted_body": f"{pill}: bob mentions",
            },
        )
        await wait_for(lambda: _on_rocketchat(carol, room, "someone: bob mentions"), 60)
        texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
        assert "bob plain reply" in texts and "bob html reply" in texts, texts
        assert not [t for t in texts if "dave kept" in t or display in t], texts
    finally:
        for view in (dave, bob):
            await view.close()
