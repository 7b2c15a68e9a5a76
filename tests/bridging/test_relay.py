"""Messages cross both ways through real homeservers and the Rocket.Chat simulator."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.types import PaginationDirection, RoomID, UserID

from bridge.ids import RCRoomID
from bridge.sandbox.models import MatrixUser
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _timeline(user: MatrixUser, room: RoomID) -> list[dict[str, Any]]:
    api = HTTPAPI(user.homeserver.client_url, user.access_token)
    try:
        client = ClientAPI(UserID(user.user_id), api=api)
        resp = await client.get_messages(room, PaginationDirection.BACKWARD, limit=100)
        return [e.serialize() for e in reversed(resp.events)]
    finally:
        await api.session.close()


async def _messages_from(
    user: MatrixUser, room: RoomID, sender_prefix: str
) -> list[dict[str, Any]]:
    return [
        e
        for e in await _timeline(user, room)
        if e["type"] == "m.room.message" and e["sender"].startswith(sender_prefix)
    ]


async def test_rocketchat_message_reaches_every_homeserver(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    hs2_user, hs3_user = await make_user(1), await make_user(2)
    room = await portal([carol], [hs2_user, hs3_user])

    await carol.post_message(RCRoomID(room.rc_room_id), "hello *world* from RC")

    ghost_prefix = "@" + bridge_stack.registration.user_prefix
    for user in (hs2_user, hs3_user):
        events = await wait_for(lambda u=user: _messages_from(u, room.matrix_room_id, ghost_prefix))
        content = events[0]["content"]
        assert content["body"] == "hello *world* from RC"
        assert content["formatted_body"] == "hello <strong>world</strong> from RC"


async def test_a_relayed_rocketchat_message_is_timed_through_every_stage(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stage trace sees the real pipeline: stream, intake, handler, PUT."""
    caplog.set_level(logging.DEBUG, logger="bridge.trace")
    carol = await bridge_stack.rc_user()
    room = await portal([carol], [await make_user(1)])
    posted = await carol.post_message(RCRoomID(room.rc_room_id), "timed on its way")

    async def traced() -> list[str]:
        key = f"relay rc:{posted.id} "
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith(key)]

    (line,) = await wait_for(traced)
    stamps = dict(word.split("=") for word in line.split()[2:])
    assert list(stamps) == ["received", "stored", "handled", "sending", "sent"]
    times = [float(t) for t in stamps.values()]
    assert times == sorted(times)


async def test_matrix_message_reaches_rocketchat_as_shadow_user(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    hs2_user = await make_user(1)
    room = await portal([carol], [hs2_user])
    api = HTTPAPI(hs2_user.homeserver.client_url, hs2_user.access_token)
    try:
        client = ClientAPI(UserID(hs2_user.user_id), api=api)
        event_id = await client.send_text(room.matrix_room_id, "hi from hs2")
    finally:
        await api.session.close()

    async def arrived() -> list[Any]:
        history = await carol.room_history("channels", RCRoomID(room.rc_room_id))
        return [m for m in history if m.text == "hi from hs2"]

    (message,) = await wait_for(arrived)
    assert message.user.username == bridge_stack.app.ids.shadow_username(hs2_user.user_id)
    assert message.id == bridge_stack.app.ids.rc_message_id(event_id)
