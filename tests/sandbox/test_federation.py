"""A ghost's message and its redaction cross the federation to every other homeserver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.client import ClientAPI
from mautrix.types import RoomID

from bridge.sandbox.demo_state import MatrixLogin
from bridge.sandbox.homeservers import HomeserverCluster, cluster_state
from bridge.sandbox.matrix_users import wait_for_event
from bridge.sandbox.models import MatrixUser

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_ghost_message_and_redaction_reach_the_second_and_third_homeserver(
    make_user: Callable[..., Awaitable[MatrixUser]],
    matrix_client: Callable[[MatrixUser], ClientAPI],
    ghost_client: Callable[[str], Awaitable[ClientAPI]],
    make_room: Callable[..., Awaitable[RoomID]],
) -> None:
    ghost = await ghost_client("fed_sender")
    alice, bob = await make_user(1), await make_user(2)
    room_id = await make_room(ghost, [alice, bob])

    event_id = await ghost.send_text(room_id, "my phone number is +44 7700 900123")
    for user in (alice, bob):
        seen = await wait_for_event(matrix_client(user), room_id, event_id)
        assert seen["sender"] == ghost.mxid
        assert seen["content"]["body"] == "my phone number is +44 7700 900123"

    await ghost.redact(room_id, event_id, reason="privacy delete")
    for user in (alice, bob):
        redacted = await wait_for_event(matrix_client(user), room_id, event_id, redacted=True)
        assert redacted["content"] == {}
        assert "redacted_because" in redacted["unsigned"]


async def test_ghosts_are_masqueraded_by_the_appservice_token(
    ghost_client: Callable[[str], Awaitable[ClientAPI]],
) -> None:
    ghost = await ghost_client("whoami_check")

    whoami = await ghost.whoami()

    assert whoami.user_id == ghost.mxid


async def test_state_lists_endpoints_and_credentials_of_every_homeserver(
    homeservers: HomeserverCluster, make_user: Callable[..., Awaitable[MatrixUser]]
) -> None:
    carol = await make_user(2)

    state = cluster_state(homeservers)

    assert [hs.server_name for hs in state] == list(homeservers.server_names)
    third = state[2]
    assert third.admin.user_id == f"@admin:{homeservers.server_names[2]}"
    assert MatrixLogin(carol.user_id, carol.password, carol.access_token) in third.users
