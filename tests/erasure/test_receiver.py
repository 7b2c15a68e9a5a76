"""The reference receiver on a real second homeserver: a request from our bridge about a
Rocket.Chat user's message and file ends as "purged by recipient" with the receiver's
detail; the file is gone from our media store and from hs2's remote-media cache."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.privacy import report as words
from bridge.receiver.config import ReceiverConfig
from bridge.receiver.run import Receiver
from bridge.sandbox.models import Homeserver, MatrixUser
from tests.bridging.helpers import MatrixView
from tests.erasure.helpers import erase, ledger_items, notice_row, say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def media_held(hs: Homeserver, admin: MatrixUser, mxc: str) -> bool:
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    url = f"{hs.client_url}/_synapse/admin/v1/media/{server}/{media_id}"
    headers = {"Authorization": f"Bearer {admin.access_token}"}
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
        assert resp.status in (200, 404), await resp.text()
        return resp.status == 200


async def test_a_partner_with_the_receiver_purges_and_says_so(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    tmp_path: Path,
) -> None:
    cluster = bridge_stack.homeservers
    hs1, hs2 = cluster.homeserver(0), cluster.homeserver(1)
    admin1, admin2 = cluster.admin(0), cluster.admin(1)
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    bob = MatrixView(await make_user(1))
    room = await portal([carol], [bob.user])
    receiver_config = ReceiverConfig(
        address=hs2.client_url,
        domain=hs2.server_name,
        access_token=admin2.access_token,
        peers=(bridge_stack.registration.sender,),
        retention_ms=7 * 86_400_000,
        audit_log=tmp_path / "receiver-audit.jsonl",
        state_file=tmp_path / "receiver-state.json",
    )
    session = aiohttp.ClientSession()
    task = asyncio.create_task(Receiver(receiver_config, session).run())
    try:
        await say(carol, room, bob, "carol's note")
        form = aiohttp.FormData()
        form.add_field(
            "file", b"carol's scan " * 100, filename="scan.png", content_type="image/png"
        )
        await carol.transport.call("POST", f"rooms.upload/{room.rc_room_id}", form=form)

        async def file_event() -> dict[str, Any] | None:
            for e in await bob.messages(room.matrix_room_id):
                if e["content"].get("body") == "scan.png" and "url" in e["content"]:
                    return dict(e["content"])
            return None

        mxc = str((await wait_for(file_event, 60))["url"])
        assert await bob.client.download_media(mxc)  # hs2 fetches it: now in its cache
        assert await media_held(hs1, admin1, mxc) and await media_held(hs2, admin2, mxc)
        await ledger_items(bridge_stack, carol_id, 2)

        status = await erase(bridge_stack, carol_id)

        async def purged() -> Any:
            now = await bridge_stack.app.erasure.status(status.id)
            row = notice_row(now, hs2.server_name)
            return row if row.status in words.ANSWERED else None

        row = await wait_for(purged, 180)
        assert row.status == words.PURGED, row
        assert "2 of 2 event(s) redacted here" in str(row.detail)
        assert "1 cached remote media file(s) purged (with the whole" in str(row.detail)
        assert "redacted content expunged after" in str(row.detail)
        assert not await media_held(hs1, admin1, mxc), "gone from our media store"
        assert not await media_held(hs2, admin2, mxc), "gone from hs2's remote-media cache"
        lines = [json.loads(x) for x in receiver_config.audit_log.read_text().splitlines()]
        # (A fresh receiver also answers the requests still in the DM's history, e.g.
        # from earlier tests in this session: each once.)
        answered = [
            x["status"]
            for x in lines
            if x["event"] == "answered" and x.get("request_id") == status.id
        ]
        assert answered == ["applied"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await session.close()
        await bob.close()
