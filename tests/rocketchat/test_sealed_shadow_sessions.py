"""A shadow's session token sealed under another storage key is a session to renew, not a
stalled room: the shadow logs in again and its new token is sealed under the new key."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bridge.bridging.action_values import PostRecord, RCSend
from bridge.bridging.identities import Identities
from bridge.config import load_config
from bridge.pipeline.actions import new_action
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.bridging import Shadow
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from tests.fixtures.bridge_config import write_config

ALICE = "@alice:hs2.test"
OLD_KEY = "old-storage-key-for-tests-0123456789abcdef"
NEW_KEY = "new-storage-key-for-tests-fedcba9876543210"


async def _no_media(mxc: str) -> tuple[bytes, str]:
    raise AssertionError("not used")


async def _name(user_id: str) -> str | None:
    return "Alice Example"


async def test_a_token_sealed_under_an_old_key_is_renewed_on_first_use(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    ids = Identities(load_config(write_config(tmp_path / "config.yaml"), environ={}))
    old = Database(db_url, encryption_key=OLD_KEY)
    await old.upgrade()
    made = await RocketChatExecutors(rc_admin, old, ids, _no_media, _name, 1000).table()[
        "rc.ensure_shadow"
    ](Action(1, f"shadow:{ALICE}", "rc.ensure_shadow", "rc:x", {"user_id": ALICE}, 0))
    assert made is not None
    async with old.unit_of_work() as uow:
        await uow.bridging.save_shadow(
            Shadow(ALICE, made["rc_user_id"], made["rc_username"], None, made["auth_token"])
        )
    await old.close()
    room = await rc_admin.room_create("channels", "sealed-keys", [made["rc_username"]])

    new = Database(db_url, encryption_key=NEW_KEY)  # the operator changed the key
    executors = RocketChatExecutors(rc_admin, new, ids, _no_media, _name, 1000)
    try:
        record = PostRecord("$sealed", 1000, None)
        payload = RCSend(
            1, room.id, "sealedKeyMsg0001", ALICE, None, record, "after the key change"
        )
        queued = new_action(payload, key="send:1", queue=f"rc:{room.id}")
        sent = await executors.table()["rc.send"](
            Action(2, queued.key, queued.kind, queued.queue, queued.payload, 0)
        )
        assert sent is not None
        assert rc_sim.state.messages["sealedKeyMsg0001"]["u"]["_id"] == made["rc_user_id"]
        async with new.unit_of_work() as uow:
            shadow = await uow.bridging.shadow(ALICE)
        assert shadow is not None and shadow.auth_token not in ("", made["auth_token"])
        async with new.engine.connect() as conn:
            stored = str(await conn.scalar(text("SELECT auth_token FROM shadow")))
        assert shadow.auth_token not in stored
    finally:
        await executors.close()
        await new.close()
