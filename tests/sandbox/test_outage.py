"""Stopping and starting one homeserver; federation catches up after the restart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import pytest
from mautrix.client import ClientAPI
from mautrix.types import RoomID

from bridge.sandbox.homeservers import HomeserverCluster, HomeserverRef
from bridge.sandbox.matrix_users import wait_for_event
from bridge.sandbox.models import MatrixUser
from bridge.sandbox.synapse_process import is_pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_message_sent_while_a_homeserver_was_down_arrives_after_restart(
    homeservers: HomeserverCluster,
    make_user: Callable[..., Awaitable[MatrixUser]],
    matrix_client: Callable[[MatrixUser], ClientAPI],
    ghost_client: Callable[[str], Awaitable[ClientAPI]],
    make_room: Callable[..., Awaitable[RoomID]],
    homeserver_outage: Callable[[HomeserverRef], AbstractAsyncContextManager[None]],
) -> None:
    ghost = await ghost_client("outage_sender")
    dana = await make_user(2)
    room_id = await make_room(ghost, [dana])
    old_pid = homeservers.homeserver(2).pid
    assert old_pid is not None

    async with homeserver_outage(2):
        assert not homeservers.is_running(2)
        assert not is_pid_alive(old_pid)
        event_id = await ghost.send_text(room_id, "sent while you were away")

    assert homeservers.homeserver(2).pid not in (None, old_pid)
    seen = await wait_for_event(matrix_client(dana), room_id, event_id)
    assert seen["content"]["body"] == "sent while you were away"
