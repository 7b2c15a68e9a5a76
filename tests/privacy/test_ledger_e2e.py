"""The ledger names the right recipients for what really crossed, on real homeservers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import EventType, RoomID

from bridge.ids import RCRoomID
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _recipients(
    stack: BridgeStack, subject_id: str, *, rc_message_id: str | None = None
) -> set[str] | None:
    """Recipients the ledger names for one of the subject's items (None: not recorded)."""
    queries = LedgerQueries(stack.app.db)
    try:
        subject = await queries.find_subject(subject_id)
    except SubjectNotFoundError:
        return None
    page = await queries.erasure_plan(subject, limit=1000)
    for item in page.items:
        if rc_message_id is None or item.rc_message_id == rc_message_id:
            return set(item.recipients)
    return None


async def _say(
    stack: BridgeStack, rc: RCRestClient, room: Portal, view: MatrixView, text: str
) -> str:
    message = await rc.post_message(RCRoomID(room.rc_room_id), text)

    async def seen() -> bool:
        return any(
            e["content"].get("body") == text for e in await view.messages(room.matrix_room_id)
        )

    await wait_for(seen)
    return message.id


async def _join(stack: BridgeStack, room: RoomID, user: MatrixUser) -> None:
    bot = stack.bot_client()
    view = MatrixView(user)
    try:
        await bot.invite_user(room, user.user_id)
        await view.client.join_room(
            room, servers=[stack.homeservers.server_names[0]], max_retries=0
        )
    finally:
        await bot.api.session.close()
        await view.close()


def _names(stack: BridgeStack) -> list[str]:
    return list(stack.homeservers.server_names)


async def test_late_joiner_under_shared_history_receives_earlier_messages(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs1, hs2, hs3 = _names(bridge_stack)
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice])
    view = MatrixView(alice)
    try:
        early = await _say(bridge_stack, carol, room, view, "before bob came")
        recipients = await wait_for(
            lambda: _recipients(bridge_stack, carol_id, rc_message_id=early)
        )
        assert {hs1, hs2} <= recipients
        assert hs3 not in recipients

        await _join(bridge_stack, room.matrix_room_id, bob)

        async def bob_counted() -> bool:
            found = await _recipients(bridge_stack, carol_id, rc_message_id=early)
            return found is not None and hs3 in found

        assert await wait_for(bob_counted), "shared history: hs3 can read the earlier message"
    finally:
        await view.close()


async def test_joined_history_keeps_late_joiners_out_and_leavers_in(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs1, hs2, hs3 = _names(bridge_stack)
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice])
    bot = bridge_stack.bot_client()
    try:
        await bot.send_state_event(
            room.matrix_room_id,
            EventType.ROOM_HISTORY_VISIBILITY,
            {"history_visibility": "joined"},
        )
    finally:
        await bot.api.session.close()
    view = MatrixView(alice)
    try:
        early = await _say(bridge_stack, carol, room, view, "only for those here")
        await _join(bridge_stack, room.matrix_room_id, bob)
        await view.client.leave_room(room.matrix_room_id)
        bob_view = MatrixView(bob)
        try:
            late = await _say(bridge_stack, carol, room, bob_view, "after alice left")
        finally:
            await bob_view.close()

        async def settled() -> tuple[set[str], set[str]] | None:
            a = await _recipients(bridge_stack, carol_id, rc_message_id=early)
            b = await _recipients(bridge_stack, carol_id, rc_message_id=late)
            return (a, b) if a is not None and b is not None and hs3 in b else None

        early_recipients, late_recipients = await wait_for(settled)
        assert hs3 not in early_recipients, "joined history: hs3 never saw the earlier item"
        assert hs2 in early_recipients, "a server that left keeps what it received"
        assert hs2 not in late_recipients
        assert {hs1, hs3} <= late_recipients
    finally:
        await view.close()


async def test_matrix_origin_messages_list_rocketchat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice = await make_user(1)
    room = await portal([carol], [alice])
    view = MatrixView(alice)
    try:
        await view.send(room.matrix_room_id, {"msgtype": "m.text", "body": "to the agency"})

        async def arrived() -> bool:
            return any(m.text == "to the agency" for m in await rc_history(carol, room.rc_room_id))

        await wait_for(arrived)
    finally:
        await view.close()
    port = bridge_stack.sim.port
    recipients = await wait_for(lambda: _recipients(bridge_stack, alice.user_id))
    assert f"rocketchat:127.0.0.1:{port}" in recipients


async def test_display_name_change_is_disclosed_to_every_room_of_the_ghost(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs1, hs2, hs3 = _names(bridge_stack)
    carol = await bridge_stack.rc_user()
    me = await carol.me()
    alice, bob = await make_user(1), await make_user(2)
    room_a = await portal([carol], [alice])
    room_b = await portal([carol], [bob])
    view_a, view_b = MatrixView(alice), MatrixView(bob)
    try:
        await _say(bridge_stack, carol, room_a, view_a, "hi a")
        await _say(bridge_stack, carol, room_b, view_b, "hi b")
        bridge_stack.sim.state.users[me.id].name = "Carol Renamed"
        await _say(bridge_stack, carol, room_a, view_a, "new name")

        async def profile_servers() -> set[str] | None:
            queries = LedgerQueries(bridge_stack.app.db)
            report = await queries.recipients_of_subject(await queries.find_subject(me.id))
            servers = {
                r.recipient
                for r in report.recipients
                if any(c.category.label == "display_name" for c in r.categories)
            }
            return servers if {hs2, hs3} <= servers else None

        # One ghost profile, two rooms: hs2 (room a) and hs3 (room b) both got the name.
        assert {hs1, hs2, hs3} <= await wait_for(profile_servers)
    finally:
        await view_a.close()
        await view_b.close()


async def test_ghost_name_is_disclosed_when_the_ghost_enters_a_room(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs2 = _names(bridge_stack)[1]
    carol = await bridge_stack.rc_user()
    me = await carol.me()
    alice = await make_user(1)
    room = await portal([carol], [alice])
    view = MatrixView(alice)
    try:
        await _say(bridge_stack, carol, room, view, "first words")
    finally:
        await view.close()

    async def name_reached_hs2() -> bool:
        queries = LedgerQueries(bridge_stack.app.db)
        report = await queries.recipients_of_subject(await queries.find_subject(me.id))
        return any(
            r.recipient == hs2 and any(c.category.label == "display_name" for c in r.categories)
            for r in report.recipients
        )

    assert await wait_for(name_reached_hs2)
