"""A room holding a partner under ``minimise`` gets a Rocket.Chat file as its name and a
link only (for everyone in it: Matrix sends one event to all servers of a room), and the
ledger records exactly that: the file name, no media."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.privacy.queries import LedgerQueries
from bridge.sandbox.models import MatrixUser
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _events(stack: BridgeStack, index: int, room: str) -> list[dict[str, object]]:
    hs = stack.homeservers.homeserver(index)
    token = stack.homeservers.admin(index).access_token
    url = f"{hs.client_url}/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit=200"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        body = await resp.json()
    return [e["content"] for e in body.get("chunk", []) if e.get("type") == "m.room.message"]


async def test_files_cross_as_links_only_into_a_minimised_room(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2 = stack.homeservers.server_names[1]
    register = PartnerRegister(stack.app.db)
    changes = PartnerChanges(
        organisation="Agency Two", lawful_basis="public_task", policy="minimise"
    )
    await register.set(hs2, changes, "cli:test")
    try:
        carol = await stack.rc_user()
        room = await portal([carol], [await make_user(1)])
        form = aiohttp.FormData()
        form.add_field(
            "file", b"%PDF-1.4 minutes", filename="minutes.pdf", content_type="application/pdf"
        )
        await carol.transport.call("POST", f"rooms.upload/{room.rc_room_id}", form=form)

        async def arrived() -> dict[str, object] | None:
            for c in await _events(stack, 1, room.matrix_room_id):
                if "minutes.pdf" in str(c.get("body")):
                    return c
            return None

        content = await wait_for(arrived, 60)
        assert content["msgtype"] == "m.text" and "url" not in content
        assert "shared as a link only" in str(content["body"]) and "/file-upload/" in str(
            content["body"]
        )

        page = await LedgerQueries(stack.app.db).disclosed_to(hs2, limit=10_000)
        mine = [i for i in page.items if i.room_id == room.matrix_room_id]
        assert mine and all("media" not in i.categories.labels for i in mine)
        assert any(i.categories.labels == ("file_name",) for i in mine)
    finally:
        await register.remove(hs2, "cli:test")
