"""Telling the room: when a server joins a portal room both sides are told which servers
(and organisations) now receive its messages; `!privacy recipients` answers in the room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.sandbox.models import MatrixUser
from tests.commands.helpers import rc_bot_texts, rc_dm
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for


async def _bodies(stack: BridgeStack, room: str) -> list[str]:
    """Bodies of the messages the organisation's homeserver holds for ``room``."""
    hs = stack.homeservers.homeserver(0)
    token = stack.homeservers.admin(0).access_token
    url = f"{hs.client_url}/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit=200"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        body = await resp.json()
    return [
        str(e["content"].get("body"))
        for e in body.get("chunk", [])
        if e.get("type") == "m.room.message"
    ]


pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_both_sides_are_told_who_joined_and_who_receives(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2, hs3 = stack.homeservers.server_names[1], stack.homeservers.server_names[2]
    register = PartnerRegister(stack.app.db)
    two = PartnerChanges(organisation="Agency Two", lawful_basis="public_task")
    await register.set(hs2, two, "cli:test")
    try:
        carol = await stack.rc_user()
        room = await portal([carol], [await make_user(1), await make_user(2)])

        async def told() -> str | None:
            texts = await rc_bot_texts(carol, room.rc_room_id, "channels")
            return next((t for t in texts if t.startswith(hs3) and "joined" in t), None)

        text = await wait_for(told, 30)
        assert f"{hs3} (not in the partner register) joined this room" in text
        assert f"{hs2} (Agency Two)" in text

        async def matrix_told() -> bool:
            return any(f"{hs3} (not in the partner register) joined" in b
                       for b in await _bodies(stack, room.matrix_room_id))  # fmt: skip

        await wait_for(matrix_told, 30)

        await carol.post_message(room.rc_room_id, "!privacy recipients")  # type: ignore[arg-type]

        async def answered() -> str | None:
            texts = await rc_bot_texts(carol, room.rc_room_id, "channels")
            return next((t for t in texts if t.startswith("Messages in this room now")), None)

        answer = await wait_for(answered, 30)
        assert f"{hs2} (Agency Two)" in answer and hs3 in answer
    finally:
        await register.remove(hs2, "cli:test")


async def test_the_first_notice_lists_the_recipients_and_offers_opting_out(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2 = stack.homeservers.server_names[1]
    dave = await stack.rc_user()
    room = await portal([dave], [await make_user(1)])
    await dave.post_message(room.rc_room_id, "my first bridged words")  # type: ignore[arg-type]
    dm = await rc_dm(dave)

    async def notice() -> str | None:
        return next((t for t in await rc_bot_texts(dave, dm) if "Before your first" in t), None)

    text = await wait_for(notice, 30)
    assert "Messages in this room now reach these servers:" in text and hs2 in text
    assert "!privacy optout" in text
