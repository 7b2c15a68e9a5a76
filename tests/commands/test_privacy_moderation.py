"""!privacy purge for moderators, and the admin commands in admin-approval mode, through
real clients on both sides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from mautrix.types import EventType, PowerLevelStateEventContent, RoomID, UserID
from ruamel.yaml import YAML

from bridge.commands import texts
from bridge.ids import RCRoomID
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import (
    CODE,
    ask_matrix,
    ask_rc,
    bot_dm,
    bot_said,
    matrix_dm,
    notice_in,
    rc_bot_texts,
    rc_dm,
)
from tests.erasure.helpers import say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _grant(stack: BridgeStack, room: RoomID, user: str, level: int) -> None:
    bot = stack.bot_client()
    try:
        levels = await bot.get_state_event(room, EventType.ROOM_POWER_LEVELS)
        assert isinstance(levels, PowerLevelStateEventContent)
        levels.set_user_level(UserID(user), level)
        await bot.send_state_event(room, EventType.ROOM_POWER_LEVELS, levels)
    finally:
        await bot.api.session.close()


async def test_purge_only_where_the_caller_moderates(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    jack, kate = await bridge_stack.rc_user(), await bridge_stack.rc_user()
    jack_name, kate_me = (await jack.me()).username, await kate.me()
    local_mod, remote_mod = await make_user(0), await make_user(1)
    room = await portal([jack, kate], [local_mod, remote_mod])
    local, remote = MatrixView(local_mod), MatrixView(remote_mod)
    try:
        _, event_id = await say(jack, room, local, "jack's message")
        purge = {"msgtype": "m.text", "body": f"!privacy purge {jack_name}"}
        # Without power: refused. A moderator of another homeserver: refused for a
        # Rocket.Chat user's data even with power. Both answers go to their DMs.
        await local.send(room.matrix_room_id, purge)
        local_dm = await bot_dm(bridge_stack, local)
        refused = await notice_in(bridge_stack, local_dm, "Refused")
        assert "rooms you moderate" in refused
        await _grant(bridge_stack, room.matrix_room_id, remote_mod.user_id, 50)
        await remote.send(room.matrix_room_id, purge)
        remote_dm = await bot_dm(bridge_stack, remote)
        refused = await notice_in(bridge_stack, remote_dm, "Refused")
        assert "another homeserver" in refused
        # Rocket.Chat: a member without a room role is refused; a moderator is not.
        channel = room.rc_room_id
        kate_dm = await rc_dm(kate)
        await kate.post_message(RCRoomID(channel), f"!privacy purge {jack_name}")
        refused = await wait_for(lambda: _dm_text(kate, kate_dm, "Refused"), 60)
        assert "rooms you moderate" in refused
        bridge_stack.sim.state.rooms[channel].moderators.append(kate_me.id)
        roles = await kate.room_roles("channels", RCRoomID(channel))
        assert (kate_me.id, kate_me.username, ("moderator",)) in roles
        await kate.post_message(RCRoomID(channel), f"!privacy purge {jack_name}")
        started = await wait_for(lambda: _dm_text(kate, kate_dm, "Purge request"), 60)
        assert "er-" in started

        async def redacted() -> bool:
            event = await local.event(room.matrix_room_id, event_id)
            return not event.get("content")

        assert await wait_for(redacted, 90)
        await wait_for(lambda: _dm_text(kate, kate_dm, "has finished"), 90)
        # The shared room was told only where the answers went: no request id, no report.
        in_channel = await rc_bot_texts(kate, channel, "channels")
        assert texts.ANSWERED_IN_DM in in_channel
        leaked = [t for t in in_channel if "er-" in t or "Purge" in t or "Refused" in t]
        assert not leaked, leaked
        # A local moderator with the configured power level may purge too.
        await _grant(bridge_stack, room.matrix_room_id, local_mod.user_id, 50)
        before = len(await bot_said(bridge_stack, local_dm))
        await local.send(room.matrix_room_id, purge)
        await notice_in(bridge_stack, local_dm, "Purge request", before)
        in_portal = await bot_said(bridge_stack, room.matrix_room_id)
        assert not [n for n in in_portal if "er-" in n or "Refused" in n], in_portal
    finally:
        await local.close()
        await remote.close()


async def _dm_text(user: RCRestClient, dm: str, text: str) -> str | None:
    return next((t for t in await rc_bot_texts(user, dm) if text in t), None)


@pytest_asyncio.fixture(loop_scope="session")
async def admin_approval(bridge_stack: BridgeStack) -> AsyncIterator[str]:
    """The bridge restarted in admin-approval mode with privacy admins; restored after."""
    yaml = YAML()
    original = bridge_stack.config_path.read_text()
    data = yaml.load(original)
    admin = bridge_stack.homeservers.admin(0).user_id
    data["privacy"]["mode"] = "admin-approval"
    data["privacy"]["admins"] = [admin, "officer"]
    with bridge_stack.config_path.open("w") as f:
        yaml.dump(data, f)
    await bridge_stack.restart()
    try:
        yield admin
    finally:
        bridge_stack.config_path.write_text(original)
        await bridge_stack.restart()


async def test_admin_approval_mode_waits_for_approve_or_deny(
    bridge_stack: BridgeStack,
    admin_approval: str,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    henry, ivy = await bridge_stack.rc_user(), await bridge_stack.rc_user()
    watcher = await make_user(1)
    room = await portal([henry, ivy], [watcher])
    view = MatrixView(watcher)
    officer = MatrixView(bridge_stack.homeservers.admin(0))
    try:
        await say(henry, room, view, "henry says hi")
        await say(ivy, room, view, "ivy says hi")
        rids = {}
        for who in (henry, ivy):
            dm = await rc_dm(who)
            summary = await ask_rc(who, dm, "!privacy delete", "confirm")
            assert "privacy officer approves" in summary
            code = CODE.search(summary)
            assert code is not None
            answer = await ask_rc(who, dm, f"!privacy delete confirm {code.group(1)}", "recorded")
            rids[who] = (dm, answer.split()[2])
        admin_room = await matrix_dm(bridge_stack, officer)
        listing = await ask_matrix(bridge_stack, officer, admin_room, "!privacy requests", "Open")
        assert rids[henry][1] in listing and rids[ivy][1] in listing
        await ask_matrix(
            bridge_stack, officer, admin_room, f"!privacy approve {rids[henry][1]}", "approved"
        )
        await ask_matrix(
            bridge_stack,
            officer,
            admin_room,
            f'!privacy deny {rids[ivy][1]} "identity not confirmed"',
            "denied",
        )
        henry_dm, ivy_dm = rids[henry][0], rids[ivy][0]
        assert await wait_for(lambda: _dm_has(henry, henry_dm, "was approved"), 60)

        async def denial() -> str | None:
            texts = await rc_bot_texts(ivy, ivy_dm)
            return next((t for t in texts if "was denied" in t), None)

        told = await wait_for(denial, 60)
        assert "identity not confirmed" in told and "Art. 77" in told
        await wait_for(lambda: _dm_has(henry, henry_dm, "has finished"), 90)
        # An admin erases on someone's behalf, with the verification note on record.
        ivy_name = (await ivy.me()).username
        recorded = await ask_matrix(
            bridge_stack,
            officer,
            admin_room,
            f'!privacy erase {ivy_name} --note "called back on the number in HR records"',
            "on the person's behalf",
        )
        rid = recorded.split()[2]
        status = await bridge_stack.app.erasure.status(rid)
        assert any(e.event == "verification_note" for e in status.log)
        refused = await ask_matrix(
            bridge_stack, officer, admin_room, f"!privacy erase {ivy_name}", "Usage"
        )
        assert "--note" in refused
    finally:
        await view.close()
        await officer.close()


async def _dm_has(user: RCRestClient, dm: str, text: str) -> bool:
    return any(text in t for t in await rc_bot_texts(user, dm))
