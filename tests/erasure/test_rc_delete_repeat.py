"""A Rocket.Chat deletion repeated after a crash (the first one went through, its done
mark did not commit) is done, not a refusal that leaves the request partially done."""

from __future__ import annotations

from typing import cast

from bridge.privacy import erasure_kinds as kinds
from bridge.rocketchat.erasure_executors import RocketChatErasureExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.database import Database
from bridge.storage.outbox import Action


async def test_a_repeated_delete_of_a_message_already_gone_is_done(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "repeat")
    message = await rc_bot.post_message(room.id, "erase me")
    # Only the Rocket.Chat client is used by the delete executor.
    table = RocketChatErasureExecutors(rc_bot, cast(Database, None)).table()
    action = Action(
        id=1,
        key=kinds.rc_delete_key("r1", message.id),
        kind=kinds.RC_DELETE,
        queue=kinds.rc_delete_queue(room.id),
        payload={"request_id": "r1", "rc_room_id": room.id, "rc_message_id": message.id},
        attempts=0,
    )
    assert await table[kinds.RC_DELETE](action) is None
    # The restarted process runs the same action again: Rocket.Chat answers
    # 'No message found with the id of "…"' (chat.ts), which means done.
    assert await table[kinds.RC_DELETE](action) is None
