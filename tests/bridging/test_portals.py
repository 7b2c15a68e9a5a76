"""Portal management from Matrix: !bridge link / unlink, admins only, encryption refused."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import EventType, Membership, RoomID

from bridge.ids import RCRoomID
from bridge.privacy.queries import LedgerQueries, Page, SubjectNotFoundError
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _notices(view: MatrixView, room: RoomID) -> list[str]:
    return [
        str(e["content"].get("body"))
        for e in await view.timeline(room)
        if e["type"] == "m.room.message" and e["content"].get("msgtype") == "m.notice"
    ]


async def _notice_containing(view: MatrixView, room: RoomID, text: str) -> bool:
    return any(text in n for n in await _notices(view, room))


async def _room_with_bot(stack: BridgeStack, view: MatrixView) -> RoomID:
    room = await view.client.create_room(invitees=[stack.registration.sender])

    async def bot_joined() -> bool:
        return stack.registration.sender in await view.client.get_joined_members(room)

    await wait_for(bot_joined)
    return room


async def test_admin_links_a_rocketchat_room_by_name_and_gets_invited(
    bridge_stack: BridgeStack,
) -> None:
    admin = MatrixView(bridge_stack.homeservers.admin(0))
    carol = await bridge_stack.rc_user()
    name = f"linkme-{uuid.uuid4().hex[:6]}"
    rc_room = await carol.room_create("channels", name)
    try:
        control = await _room_with_bot(bridge_stack, admin)
        await admin.send(control, {"msgtype": "m.text", "body": f"!bridge link #{name}"})
        assert await wait_for(lambda: _notice_containing(admin, control, f"Linked {name}"))

        async def invited() -> RoomID | None:
            # Not /sync: Synapse answers repeated identical initial syncs from a cache.
            async with bridge_stack.app.db.unit_of_work() as uow:
                portal = await uow.bridging.portal_by_rc(rc_room.id)
            if portal is None or portal.matrix_room_id is None:
                return None
            room_id = RoomID(portal.matrix_room_id)
            bot = bridge_stack.bot_client()
            try:
                members = await bot.get_members(room_id)
            finally:
                await bot.api.session.close()
            invited = {
                str(e.state_key) for e in members if e.content.membership == Membership.INVITE
            }
            return room_id if admin.user.user_id in invited else None

        portal_room = await wait_for(invited)
        await admin.client.join_room(portal_room, max_retries=0)
        await carol.post_message(RCRoomID(rc_room.id), "hello portal")

        async def relayed() -> bool:
            return any(
                e["content"].get("body") == "hello portal"
                for e in await admin.messages(portal_room)
            )

        assert await wait_for(relayed)

        await admin.send(portal_room, {"msgtype": "m.text", "body": "!bridge unlink"})
        assert await wait_for(lambda: _notice_containing(admin, portal_room, "no longer bridged"))
        await admin.send(portal_room, {"msgtype": "m.text", "body": "after unlink"})
        await carol.post_message(RCRoomID(rc_room.id), "marker")
        history = [m.text for m in await rc_history(carol, rc_room.id)]
        assert "after unlink" not in history
        assert "!bridge unlink" not in history, "commands are never relayed"
    finally:
        await admin.close()


async def test_non_admins_are_refused_and_nothing_changes(
    bridge_stack: BridgeStack, make_user: Callable[..., Awaitable[MatrixUser]]
) -> None:
    mallory = MatrixView(await make_user(1))
    carol = await bridge_stack.rc_user()
    rc_room = await carol.room_create("channels", f"nolink-{uuid.uuid4().hex[:6]}")
    try:
        control = await _room_with_bot(bridge_stack, mallory)
        await mallory.send(control, {"msgtype": "m.text", "body": f"!bridge link {rc_room.id}"})
        assert await wait_for(lambda: _notice_containing(mallory, control, "Only bridge admins"))
        async with bridge_stack.app.db.unit_of_work() as uow:
            assert await uow.bridging.portal_by_rc(rc_room.id) is None
    finally:
        await mallory.close()


async def test_encrypted_portal_stops_bridging_with_a_notice(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice_user = await make_user(1)
    room = await portal([carol], [alice_user])
    alice = MatrixView(alice_user)
    bot = bridge_stack.bot_client()
    try:
        await bot.send_state_event(
            room.matrix_room_id,
            EventType.ROOM_ENCRYPTION,
            {"algorithm": "m.megolm.v1.aes-sha2"},
        )
        assert await wait_for(
            lambda: _notice_containing(alice, room.matrix_room_id, "Encrypted rooms")
        )
        async with bridge_stack.app.db.unit_of_work() as uow:
            portal_row = await uow.bridging.portal_by_rc(room.rc_room_id)
        assert portal_row is not None and not portal_row.active
    finally:
        await bot.api.session.close()
        await alice.close()


async def test_admin_links_an_existing_matrix_room_and_it_is_seeded(
    bridge_stack: BridgeStack, make_user: Callable[..., Awaitable[MatrixUser]]
) -> None:
    admin = MatrixView(bridge_stack.homeservers.admin(0))
    remote = await make_user(1)
    carol = await bridge_stack.rc_user()
    rc_room = await carol.room_create("channels", f"existing-{uuid.uuid4().hex[:6]}")
    try:
        room = await _room_with_bot(bridge_stack, admin)
        # The bot needs power to moderate (redactions on erasure).
        levels = await admin.client.get_state_event(room, EventType.ROOM_POWER_LEVELS)
        levels.users[bridge_stack.registration.sender] = 100  # type: ignore[attr-defined]
        await admin.client.send_state_event(room, EventType.ROOM_POWER_LEVELS, levels)
        await admin.client.invite_user(room, remote.user_id)
        remote_view = MatrixView(remote)
        try:
            await remote_view.client.join_room(
                room, servers=[bridge_stack.homeservers.server_names[0]], max_retries=0
            )
        finally:
            await remote_view.close()
        await admin.send(room, {"msgtype": "m.text", "body": f"!bridge link {rc_room.id} {room}"})
        assert await wait_for(lambda: _notice_containing(admin, room, "to this room"))
        await carol.post_message(RCRoomID(rc_room.id), "into the existing room")

        async def relayed() -> bool:
            return any(
                e["content"].get("body") == "into the existing room"
                for e in await admin.messages(room)
            )

        assert await wait_for(relayed)
        # The ledger learnt the room's servers from /members: the remote one is a recipient.
        # The disclosure is recorded when the send's outbox action is marked done, just
        # after the homeserver accepted the event: wait for it rather than race it.
        queries = LedgerQueries(bridge_stack.app.db)
        carol_id = (await carol.me()).id

        async def recorded() -> Page | None:
            try:
                subject = await queries.find_subject(carol_id)
            except SubjectNotFoundError:
                return None
            page = await queries.erasure_plan(subject)
            return page if page.items else None

        page = await wait_for(recorded)
        assert bridge_stack.homeservers.server_names[1] in page.items[0].recipients
    finally:
        await admin.close()
