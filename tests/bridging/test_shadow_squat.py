"""A Rocket.Chat user who registers a Matrix user's shadow name first blocks nothing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.ids import RCRoomID
from bridge.rctypes.models import RCMessage
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for


def _predictable_name(user_id: str) -> str:
    """What the bridge once derived from the Matrix id alone."""
    localpart, _, server = user_id[1:].partition(":")
    name = re.sub(r"[^0-9a-zA-Z_.-]", "_", f"{localpart}.{server}")
    if name != f"{localpart}.{server}":
        name += "." + hashlib.sha256(user_id.encode()).hexdigest()[:6]
    return name


pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_squatted_shadow_names_do_not_block_the_room(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice = await make_user(1)
    # The name the bridge used to give (anyone could compute it), and the first name of
    # the keyed sequence (which only the bridge can compute; the test asks the bridge).
    squatted = [
        _predictable_name(alice.user_id),
        bridge_stack.app.ids.shadow_username(alice.user_id),
    ]
    squatters = [await bridge_stack.rc_user(name) for name in squatted]
    before = {
        u.id: (u.username, u.name, u.email, u.password, list(u.tokens))
        for u in bridge_stack.sim.state.users.values()
        if u.username in squatted
    }
    assert len(before) == 2

    room = await portal([carol], [alice])
    view = MatrixView(alice)
    try:
        await view.send(RoomID(room.matrix_room_id), {"msgtype": "m.text", "body": "not blocked"})
    finally:
        await view.close()

    async def arrived() -> list[RCMessage]:
        history = await carol.room_history("channels", RCRoomID(room.rc_room_id))
        return [m for m in history if m.text == "not blocked"]

    (message,) = await wait_for(arrived, 30)
    assert message.user.username == bridge_stack.app.ids.shadow_username(alice.user_id, 1)
    assert message.user.id not in before
    async with bridge_stack.app.db.unit_of_work() as uow:
        shadow = await uow.bridging.shadow(alice.user_id)
    assert shadow is not None and shadow.rc_username == message.user.username
    # The squatters' accounts are as they were, and not in the room.
    state = bridge_stack.sim.state
    for user_id, was in before.items():
        u = state.users[user_id]
        assert (u.username, u.name, u.email, u.password, list(u.tokens)) == was
        assert user_id not in state.rooms[room.rc_room_id].members
    for squatter in squatters:
        assert (await squatter.me()).username in squatted
