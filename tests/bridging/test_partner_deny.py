"""A partner under ``deny`` on real Synapse: the portal's server ACL names it, its users
are removed, new messages reach the other servers only, and the ledger records nothing
more for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from mautrix.api import Method, Path
from mautrix.types import RoomID

from bridge.ids import RCRoomID
from bridge.privacy.partner_gate import acl_host
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.privacy.queries import LedgerQueries
from bridge.sandbox.models import MatrixUser
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DENY = PartnerChanges(organisation="Agency Three", lawful_basis="public_task", policy="deny")


async def _admin_messages(stack: BridgeStack, index: int, room: RoomID) -> list[str]:
    """Bodies of the messages homeserver ``index`` itself holds for ``room`` (its admin
    API: it answers after the server's users left the room)."""
    hs = stack.homeservers.homeserver(index)
    token = stack.homeservers.admin(index).access_token
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


async def _state(
    stack: BridgeStack, room: RoomID, event_type: str, key: str = ""
) -> dict[str, Any] | None:
    bot = stack.bot_client()
    try:
        path = Path.v3.rooms[room].state[event_type]
        return dict(await bot.api.request(Method.GET, path[key] if key else path))
    except Exception:  # noqa: BLE001 - absent state answers 404
        return None
    finally:
        await bot.api.session.close()


async def test_a_denied_server_gets_the_acl_and_nothing_more(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2, hs3 = stack.homeservers.server_names[1], stack.homeservers.server_names[2]
    carol = await stack.rc_user()
    hs2_user, hs3_user = await make_user(1), await make_user(2)
    room = await portal([carol], [hs2_user, hs3_user])
    rc_room, matrix_room = RCRoomID(room.rc_room_id), room.matrix_room_id

    await carol.post_message(rc_room, "before the deny")
    for index in (1, 2):
        await wait_for(lambda i=index: _has(stack, i, matrix_room, "before the deny"), 30)
    queries = LedgerQueries(stack.app.db)
    before = await queries.server_summary(hs3)
    assert before is not None and before.items >= 1

    register = PartnerRegister(stack.app.db)
    try:
        await register.set(hs3, DENY, "cli:test")

        async def acl() -> dict[str, Any] | None:
            content = await _state(stack, matrix_room, "m.room.server_acl")
            return content if content and acl_host(hs3) in content.get("deny", []) else None

        content = await wait_for(acl, 30)
        assert acl_host(hs2) not in content["deny"] and content["allow"] == ["*"]

        async def hs3_gone() -> bool:
            member = await _state(stack, matrix_room, "m.room.member", hs3_user.user_id)
            return member is not None and member.get("membership") == "leave"

        await wait_for(hs3_gone, 30)

        await carol.post_message(rc_room, "after the deny")
        await wait_for(lambda: _has(stack, 1, matrix_room, "after the deny"), 30)
        assert "after the deny" not in await _admin_messages(stack, 2, matrix_room)
        after = await queries.server_summary(hs3)
        assert after is not None and after.items == before.items
        hs2_summary = await queries.server_summary(hs2)
        assert hs2_summary is not None and hs2_summary.items > before.items - 1
    finally:
        await register.remove(hs3, "cli:test")


async def _has(stack: BridgeStack, index: int, room: RoomID, body: str) -> bool:
    return body in await _admin_messages(stack, index, room)
