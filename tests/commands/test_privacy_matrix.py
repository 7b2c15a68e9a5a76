"""!privacy from a Matrix DM with the bot, driven through real homeservers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import EventType, JoinRule, JoinRulesStateEventContent, RoomCreatePreset

from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.commands.helpers import (
    CODE,
    ask_matrix,
    bot_notices,
    matrix_dm,
    matrix_export,
)
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_matrix_user_gets_notice_once_then_status_export_and_erasure(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    dave_user = await make_user(1)
    room = await portal([carol], [dave_user])
    dave = MatrixView(dave_user)
    bot = bridge_stack.registration.sender
    try:
        # Two messages cross to Rocket.Chat: the notice comes once, before the first.
        for text in ("first from dave", "second from dave"):
            await dave.send(room.matrix_room_id, {"msgtype": "m.text", "body": text})

        async def both_relayed() -> bool:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return "first from dave" in texts and "second from dave" in texts

        await wait_for(both_relayed, 60)

        async def notice_room() -> str | None:
            async with bridge_stack.app.db.unit_of_work() as uow:
                return await uow.commands.dm_of("matrix", dave_user.user_id)

        dm_room = await wait_for(notice_room, 30)
        await dave.client.join_room(dm_room, max_retries=0)
        notices = await bot_notices(dave, dm_room, bot)  # type: ignore[arg-type]
        assert sum("Before your first message" in n for n in notices) == 1

        # A DM the user opens themselves (is_direct) works the same.
        dm = await matrix_dm(bridge_stack, dave)
        help_text = await ask_matrix(bridge_stack, dave, dm, "!privacy", "!privacy export")
        assert "!privacy requests" not in help_text, "admin help only for admins"
        status = await ask_matrix(bridge_stack, dave, dm, "!privacy status", "item(s)")
        assert "rocketchat:" in status and "message text" in status

        await dave.send(dm, {"msgtype": "m.text", "body": "!privacy export"})
        document = await matrix_export(dave, dm, bot)
        assert document["subject"]["matrix_user_id"] == dave_user.user_id
        assert len(document["disclosures"]) >= 2
        assert {r["kind"] for r in document["recipients"]} >= {"rocketchat"}
        assert document["notice_shown_at"] is not None

        summary = await ask_matrix(bridge_stack, dave, dm, "!privacy delete", "confirm")
        assert "item(s) in 1 room(s)" in summary and "cannot" in summary
        code = CODE.search(summary)
        assert code is not None
        wrong = await ask_matrix(
            bridge_stack, dave, dm, "!privacy delete confirm ZZZZZZZZ", "Refused"
        )
        assert "not right" in wrong
        await ask_matrix(
            bridge_stack, dave, dm, f"!privacy delete confirm {code.group(1)}", "has started"
        )
        report = await ask_matrix(bridge_stack, dave, dm, "!privacy help", "has finished")
        assert "rocketchat" in report.lower()

        async def gone_from_rocketchat() -> bool:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return "first from dave" not in texts and "second from dave" not in texts

        assert await wait_for(gone_from_rocketchat, 60)
        reused = await ask_matrix(
            bridge_stack, dave, dm, f"!privacy delete confirm {code.group(1)}", "Refused"
        )
        assert "no erasure waiting" in reused, "a code works once"
    finally:
        await dave.close()


async def test_privacy_commands_in_a_portal_get_a_pointer_and_are_not_relayed(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    erin_user = await make_user(2)
    room = await portal([carol], [erin_user])
    erin = MatrixView(erin_user)
    try:
        pointer = await ask_matrix(
            bridge_stack, erin, room.matrix_room_id, "!privacy status", "direct message"
        )
        assert "item" not in pointer, "nothing about the person in a shared room"
        await erin.send(room.matrix_room_id, {"msgtype": "m.text", "body": "marker"})

        async def marker() -> list[str] | None:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return texts if "marker" in texts else None

        assert "!privacy status" not in await wait_for(marker, 60)
    finally:
        await erin.close()


async def test_a_room_with_a_third_member_is_not_a_dm_whatever_the_invite_said(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    frank_user, grace_user = await make_user(1), await make_user(1)
    room = await portal([carol], [frank_user])
    frank = MatrixView(frank_user)
    bot = bridge_stack.registration.sender
    try:
        await frank.send(room.matrix_room_id, {"msgtype": "m.text", "body": "frank was here"})

        async def relayed() -> bool:
            return "frank was here" in [m.text for m in await rc_history(carol, room.rc_room_id)]

        await wait_for(relayed, 60)
        # Marked direct, but grace is invited too: she would read every private answer.
        shared = await frank.client.create_room(
            invitees=[bot, grace_user.user_id],
            is_direct=True,  # type: ignore[list-item]
        )

        async def bot_joined() -> bool:
            return bot in await frank.client.get_joined_members(shared)

        await wait_for(bot_joined, 30)
        pointer = await ask_matrix(bridge_stack, frank, shared, "!privacy status", "direct message")
        assert "item" not in pointer
        # Grace leaves without ever joining: now the room is frank and the bot only.
        grace = MatrixView(grace_user)
        try:
            await grace.client.leave_room(shared)
        finally:
            await grace.close()
        status = await ask_matrix(bridge_stack, frank, shared, "!privacy status", "item(s)")
        assert "rocketchat:" in status
        said = await bot_notices(frank, shared, bot)
        assert sum("item(s)" in n for n in said) == 1, "nothing private while grace was invited"
    finally:
        await frank.close()


async def test_a_room_anyone_may_join_or_read_is_not_a_dm_with_two_members(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    """Only the person and the bot are in it, but anyone may join later and read, under
    the default 'shared' history visibility, every answer given before."""
    carol = await bridge_stack.rc_user()
    heidi_user = await make_user(1)
    room = await portal([carol], [heidi_user])
    heidi = MatrixView(heidi_user)
    bot = bridge_stack.registration.sender
    try:
        await heidi.send(room.matrix_room_id, {"msgtype": "m.text", "body": "heidi was here"})

        async def relayed() -> bool:
            return "heidi was here" in [m.text for m in await rc_history(carol, room.rc_room_id)]

        await wait_for(relayed, 60)
        public = await heidi.client.create_room(
            preset=RoomCreatePreset.PUBLIC,
            invitees=[bot],
            is_direct=True,
        )

        async def bot_joined() -> bool:
            return bot in await heidi.client.get_joined_members(public)

        await wait_for(bot_joined, 30)
        pointer = await ask_matrix(bridge_stack, heidi, public, "!privacy status", "direct message")
        assert "item" not in pointer
        # Invite only, but readable by anyone without joining: still not private.
        await heidi.client.send_state_event(
            public, EventType.ROOM_JOIN_RULES, JoinRulesStateEventContent(JoinRule.INVITE)
        )
        await heidi.client.send_state_event(
            public,
            EventType.ROOM_HISTORY_VISIBILITY,
            {"history_visibility": "world_readable"},
        )
        pointer = await ask_matrix(bridge_stack, heidi, public, "!privacy status", "direct message")
        assert "item" not in pointer
        await heidi.client.send_state_event(
            public, EventType.ROOM_HISTORY_VISIBILITY, {"history_visibility": "shared"}
        )
        status = await ask_matrix(bridge_stack, heidi, public, "!privacy status", "item(s)")
        assert "rocketchat:" in status
        said = await bot_notices(heidi, public, bot)
        assert sum("item(s)" in n for n in said) == 1, "nothing private while anyone could read"
    finally:
        await heidi.close()
