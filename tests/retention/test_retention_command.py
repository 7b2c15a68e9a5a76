"""``!bridge retention``: the room's policy for its moderators, through a real client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import bot_dm, notice_in
from tests.commands.test_privacy_moderation import _grant
from tests.fixtures.bridge_stack import BridgeStack, Portal
from tests.retention.test_expiry_federation import MINUTE_IN_DAYS, _rc_admin, _room_policy

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_moderator_sees_the_rooms_policy_others_are_refused(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    jack = await bridge_stack.rc_user()
    mod = await make_user(0)
    room = await portal([jack], [mod])
    view = MatrixView(mod)
    admin = await _rc_admin(bridge_stack)
    ask = {"msgtype": "m.text", "body": "!bridge retention"}
    try:
        await admin.set_setting("RetentionPolicy_Enabled", True)
        await _room_policy(
            admin,
            room.rc_room_id,
            retentionEnabled=True,
            retentionOverrideGlobal=True,
            retentionMaxAge=MINUTE_IN_DAYS,
        )
        await view.send(room.matrix_room_id, ask)
        dm = await bot_dm(bridge_stack, view)
        refused = await notice_in(bridge_stack, dm, "Refused")
        assert "moderators" in refused
        await _grant(bridge_stack, room.matrix_room_id, mod.user_id, 50)
        await view.send(room.matrix_room_id, ask)
        answer = await notice_in(bridge_stack, dm, "Retention in")
        assert "messages older than 1 minute (room policy)" in answer, answer
        assert "m.room.retention max_lifetime 60000 ms" in answer, answer
        assert "redacts expired copies on every server" in answer, answer
    finally:
        await admin.set_setting("RetentionPolicy_Enabled", False)
        await _room_policy(admin, room.rc_room_id, retentionEnabled=False)
        await view.close()
