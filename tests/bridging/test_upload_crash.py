"""SIGKILL while a Matrix file is being posted to Rocket.Chat: it arrives there once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mautrix.types import RoomID

from bridge.config import load_config
from bridge.sandbox.models import MatrixUser
from bridge.storage.database import Database
from tests.bridging.helpers import MatrixView
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.mark.parametrize(
    "point",
    [
        "rc.upload.after_media",  # stored on Rocket.Chat, not yet noted by the bridge
        "rc.upload.after_note",  # noted, not yet posted
        "rc.upload.after_confirm",  # posted, the action not yet marked done
    ],
)
async def test_sigkill_while_posting_a_file_posts_it_once(
    point: str,
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    alice = await make_user(1)
    room = await portal([carol], [alice])
    view = MatrixView(alice)
    data = b"%PDF-1.4 " + point.encode() * 300
    config = load_config(bridge_stack.config_path)
    try:
        async with bridge_stack.as_subprocess() as proc:
            db = Database(config.database.url)
            try:
                await proc.start(crash_at=point)
                # Bounded, so a stall names its step instead of the suite's timeout.
                async with asyncio.timeout(60):
                    mxc = await view.client.upload_media(data, mime_type="application/pdf")
                async with asyncio.timeout(60):
                    event_id = await view.send(
                        RoomID(room.matrix_room_id),
                        {"msgtype": "m.file", "body": "notes.pdf", "url": mxc},
                    )
                assert await proc.wait_exit(60) == -9
                await proc.start()

                async def done() -> dict[str, Any] | None:
                    action = await db.outbox.get(f"mx-msg:{event_id}")
                    return action if action and action["status"] == "done" else None

                await wait_for(done, 60)
            finally:
                await db.close()
    finally:
        await view.close()
    posted = [
        m
        for m in bridge_stack.sim.state.messages.values()
        if m["rid"] == room.rc_room_id and m.get("file")
    ]
    assert len(posted) == 1, posted
    assert posted[0]["file"]["name"] == "notes.pdf"
    assert bridge_stack.sim.state.uploads[posted[0]["file"]["_id"]]["data"] == data
