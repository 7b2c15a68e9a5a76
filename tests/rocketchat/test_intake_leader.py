"""The Rocket.Chat intake in the process that leads it, and rooms other processes link.

Several processes share one database; one of them runs the intake (bridge.workers.leader).
A room linked by another process reaches it through the database only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bridge.config import load_config
from bridge.ids import RCRoomID
from bridge.rocketchat import service
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.service import RocketChatSide
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.fixtures.bridge_stack import wait_for


@pytest_asyncio.fixture
async def side(
    rc_sim: SimulatorServer, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RocketChatSide]:
    monkeypatch.setattr(service, "ROOMS_REFRESH_SECONDS", 0.1)
    config = load_config(
        write_config(
            tmp_path / "config.yaml",
            rocketchat={
                "url": rc_sim.url,
                "username": None,
                "password": None,
                "user_id": rc_sim.bot.id,
                "auth_token": rc_sim.config.bot_token,
            },
        ),
        environ={},
    )
    rocketchat = RocketChatSide(config, db, lambda: None)
    task = asyncio.create_task(rocketchat.run())
    try:
        async with asyncio.timeout(20):
            await rocketchat.ready.wait()
            assert rocketchat.listener is not None
            await rocketchat.listener.connected.wait()
        yield rocketchat
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rocketchat.close()


async def test_the_listener_follows_a_room_another_process_linked(
    side: RocketChatSide, rc_bot: RCRestClient, rc_admin: RCRestClient, db: Database
) -> None:
    room = (await rc_bot.room_create("channels", "linked-elsewhere", members=["admin"])).id
    doomed = await rc_admin.post_message(room, "deleted later")
    async with db.unit_of_work() as uow:  # what another process's link leaves behind
        await uow.bridging.add_portal(room, "c", None, "linked-elsewhere")
    listener = side.listener
    assert listener is not None
    await wait_for(lambda: _async(room in listener.rooms), 20)
    # Subscribed to the room's deletions, which only the per-room stream carries.
    await rc_admin.delete_message(room, doomed.id)

    async def stored() -> bool:
        ids = {e.event_id for e in await db.inbox.pending(1000)}
        return f"rc-del:{doomed.id}" in ids

    await wait_for(stored, 20)


async def test_a_channel_refused_once_is_read_after_another_process_links_it(
    side: RocketChatSide, rc_bot: RCRestClient, db: Database
) -> None:
    """Webhook intake: a channel that was not followed is remembered as such for a short
    while only, since the process that links it may be another one."""
    room = (await rc_bot.room_create("channels", "not-yet", members=["admin"])).id
    assert not await side.follows(room)
    async with db.unit_of_work() as uow:
        await uow.bridging.add_portal(room, "c", None, "not-yet")
    await wait_for(lambda: side.follows(RCRoomID(room)), 20)


async def _async(value: bool) -> bool:
    return value
