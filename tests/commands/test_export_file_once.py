"""A privacy export sent as a file to a Rocket.Chat DM arrives once, even when its outbox
action runs again after a crash that came after the file was posted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mautrix.client import ClientAPI

from bridge.bridging.identities import Identities
from bridge.commands.sides import Sides
from bridge.config import load_config
from bridge.pipeline.progress import Progress
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.uploads import UploadNoted
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.database import Database
from bridge.storage.outbox import NewAction
from tests.fixtures.bridge_config import write_config


@pytest.fixture
async def outbox_db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.upgrade()
    yield database
    await database.close()


def _no_bot() -> ClientAPI:
    raise AssertionError("the Matrix side is not used here")


async def test_a_repeated_export_action_posts_its_file_once(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, outbox_db: Database, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path / "c.yaml"), environ={})
    notes = Progress(outbox_db.outbox, UploadNoted)
    sides = Sides(config, Identities(config), _no_bot, lambda: rc_admin, notes)
    room = await rc_admin.room_create("groups", "export-dm")
    await outbox_db.outbox.add(NewAction("job:export:1", "command.job", "cmd:x", {}))
    (action,) = await outbox_db.outbox.due(1)

    for _ in range(2):  # the first run, then the run after a crash before "done"
        await sides.send_file(
            "rocketchat", room.id, "privacy-export.json", b'{"a": 1}', action.key, action.id
        )

    files = [m for m in rc_sim.state.messages.values() if m["rid"] == room.id and m.get("file")]
    assert len(files) == 1
    assert files[0]["file"]["name"] == "privacy-export.json"
