"""The erasure's Rocket.Chat deletes: a repeat after a crash is done (not a refusal that
leaves the request partially done), and the outcome says "hidden", not "deleted", when
Rocket.Chat keeps the message in its database (deleteMessage.ts: Message_KeepHistory,
thread parents)."""

from __future__ import annotations

from typing import cast

from bridge.ids import RCMessageID, RCRoomID
from bridge.pipeline import keys
from bridge.pipeline.contracts import Executor
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.rocketchat.erasure_executors import RocketChatErasureExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.database import Database
from bridge.storage.outbox import Action


def delete_action(room: RCRoomID, message: RCMessageID) -> Action:
    return Action(
        id=1,
        key=keys.erasure_rc_delete_key("r1", message),
        kind=kinds.RC_DELETE,
        queue=keys.erasure_rc_delete_queue(room),
        payload={"request_id": "r1", "rc_room_id": room, "rc_message_id": message},
        attempts=0,
    )


def executor(client: RCRestClient) -> Executor:
    # Only the Rocket.Chat client is used by the delete executor.
    return RocketChatErasureExecutors(client, cast(Database, None)).table()[kinds.RC_DELETE]


async def test_a_repeated_delete_of_a_message_already_gone_is_done(rc_admin: RCRestClient) -> None:
    room = await rc_admin.room_create("channels", "repeat")
    message = await rc_admin.post_message(room.id, "erase me")
    delete = executor(rc_admin)
    action = delete_action(room.id, message.id)
    assert await delete(action) == {"outcome": words.DELETED}
    # The restarted process runs the same action again: Rocket.Chat answers
    # 'No message found with the id of "…"' (chat.ts), which means done.
    assert await delete(action) == {"outcome": words.DELETED}


async def test_kept_history_and_thread_parents_are_hidden_not_deleted(
    rc_admin: RCRestClient, rc_sim: SimulatorServer
) -> None:
    room = await rc_admin.room_create("channels", "kept")
    delete = executor(rc_admin)
    parent = await rc_admin.post_message(room.id, "a thread's parent")
    await rc_admin.send_message(room.id, "a reply", thread_id=parent.id)
    assert await delete(delete_action(room.id, parent.id)) == {"outcome": words.HIDDEN}

    await rc_admin._post("settings/Message_KeepHistory", {"value": True})  # noqa: SLF001
    plain = await rc_admin.post_message(room.id, "kept in the database")
    delete = executor(rc_admin)  # a new process: no setting remembered
    assert await delete(delete_action(room.id, plain.id)) == {"outcome": words.HIDDEN}
    assert rc_sim.state.messages[plain.id]["msg"] == "kept in the database", (
        "the simulator keeps it too, hidden, as Rocket.Chat does"
    )


async def test_a_setting_the_bridge_may_not_read_counts_as_kept(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "unknown")
    message = await rc_bot.post_message(room.id, "erase me")
    assert await executor(rc_bot)(delete_action(room.id, message.id)) == {"outcome": words.HIDDEN}
