"""matrix_users_on_rocketchat: alias — the bridge's account posts with the person's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.bridging.action_values import PostRecord, RCSend
from bridge.bridging.identities import Identities
from bridge.config import load_config
from bridge.ids import RCRoomID
from bridge.media import FetchedFile
from bridge.pipeline.actions import Run
from bridge.pipeline.contracts import PermanentFailure
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config


async def _no_media(mxc: str) -> FetchedFile:
    raise AssertionError("not used")


async def _name(user_id: str) -> str | None:
    return "Alice Example"


def _executors(client: RCRestClient, db: Database, tmp_path: Path) -> RocketChatExecutors:
    ids = Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))
    return RocketChatExecutors(client, db, ids, _no_media, _name, 1000, alias_mode=True)


def _send(room_id: str) -> Run[RCSend]:
    record = PostRecord("$x", 1000, None)
    send = RCSend(
        1, room_id, "aliasmsg000000001", "@alice:hs2.test", None, record, "hello via alias"
    )
    return Run(1, "mx-msg:$x", "rc.send", "rc:" + room_id, 0, send)


async def test_alias_mode_posts_as_the_bridge_with_the_matrix_name(
    rc_bot: RCRestClient, db: Database, tmp_path: Path
) -> None:
    room = await rc_bot.room_create("channels", "alias-room")
    result = await _executors(rc_bot, db, tmp_path).send(_send(room.id))
    message = await rc_bot.get_message(result.rc_message_id)
    me = await rc_bot.me()
    assert (message.user.id, message.alias, message.text) == (
        me.id,
        "Alice Example",
        "hello via alias",
    )


async def test_alias_mode_without_impersonation_permission_is_a_clear_failure(
    rc_admin: RCRestClient, db: Database, tmp_path: Path
) -> None:
    # The admin role lacks message-impersonate by default (only bot and app have it).
    room = await rc_admin.room_create("channels", "alias-denied")
    with pytest.raises(PermanentFailure, match="message-impersonate"):
        await _executors(rc_admin, db, tmp_path).send(_send(room.id))
    history = await rc_admin.room_history("channels", RCRoomID(room.id))
    assert all(m.text != "hello via alias" for m in history)
