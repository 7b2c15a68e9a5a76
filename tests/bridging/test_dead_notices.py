"""A relayed message that becomes a dead letter: the room it came from is told, once,
without its content; replies and other actions with no one waiting tell no one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from bridge.bridging.action_values import MatrixSend, MessageRecord
from bridge.bridging.dead_notices import dead_hooks
from bridge.bridging.identities import Identities
from bridge.bridging.matrix_content import Content
from bridge.config import load_config
from bridge.matrix.executors import MatrixExecutors
from bridge.media import FetchedFile
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import new_action
from bridge.pipeline.contracts import PermanentFailure, RetryLater, Waiting
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.database import Database
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import OutboxWorker, RetryBudget
from tests.fixtures.bridge_config import write_config

SECRET = "the secret words of the message"
MATRIX_ROOM = "!portal:hs1.test"


async def _portal(db: Database) -> int:
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("rcroom", "c", MATRIX_ROOM, "room")
    return portal.id


async def _fail(action: Action) -> None:
    if action.key.endswith("refused"):
        raise PermanentFailure("M_FORBIDDEN: nope")
    raise RetryLater("a broken attachment")


@pytest.mark.parametrize("key", ["rc-msg:abc:0", "rc-msg:refused"])
async def test_a_message_to_matrix_that_dies_is_reported_in_its_rocketchat_room(
    db: Database, key: str
) -> None:
    portal_id = await _portal(db)
    send = MatrixSend(
        portal_id,
        "@rc_alice:hs1.test",
        "m.room.message",
        Content(msgtype="m.text", body=SECRET),
        record=MessageRecord("abc", 0, "rc", "alice-id", 1_800_000_000_000),
    )
    await db.outbox.add(new_action(send, key=key, queue=f"matrix:{portal_id}"))
    worker = OutboxWorker(
        db, {kinds.MATRIX_SEND: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    assert (await db.outbox.get(key) or {})["status"] == "dead"
    notice = await db.outbox.get(f"dead-notice:{key}")
    assert notice is not None
    assert (notice["kind"], notice["queue"]) == (
        kinds.RC_NOTICE,
        keys.reply_queue("rocketchat", "rcroom"),
    )
    text = notice["payload"]["text"]
    assert notice["payload"]["room_id"] == "rcroom"
    assert text.startswith("A message sent here at 2027-01-15 08:00 UTC could not be delivered")
    assert "to Matrix" in text and SECRET not in text and "nope" not in text


async def test_a_message_whose_payload_does_not_fit_its_class_is_still_reported(
    db: Database,
) -> None:
    """It may have died of that: the room is told, only without when it was sent."""
    portal_id = await _portal(db)
    payload = {"portal_id": portal_id, "record": {"sent_ms": 1_800_000_000_000}}
    key = "rc-msg:broken:0"
    await db.outbox.add(NewAction(key, kinds.MATRIX_SEND, f"matrix:{portal_id}", payload))
    worker = OutboxWorker(
        db, {kinds.MATRIX_SEND: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    notice = await db.outbox.get(f"dead-notice:{key}")
    assert notice is not None
    assert notice["payload"]["text"].startswith("A message sent here could not be delivered")


async def test_a_deletion_to_rocketchat_that_dies_is_reported_in_its_matrix_room(
    db: Database,
) -> None:
    await _portal(db)
    payload = {"rc_room_id": "rcroom", "rc_message_id": "m1"}
    await db.outbox.add(NewAction("mx-redact:$e", kinds.RC_DELETE, "rc:rcroom", payload))
    worker = OutboxWorker(db, {kinds.RC_DELETE: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1))
    await worker.drain_once()
    notice = await db.outbox.get("dead-notice:mx-redact:$e")
    assert notice is not None
    assert (notice["kind"], notice["payload"]["room_id"]) == (kinds.MATRIX_NOTICE, MATRIX_ROOM)
    assert notice["payload"]["text"].startswith("A deletion sent here could not be delivered")


async def test_a_reply_that_dies_tells_no_one(db: Database) -> None:
    await _portal(db)
    reply = kinds.notice("matrix", "reply:privacy:$cmd", MATRIX_ROOM, "your request …")
    await db.outbox.add(reply)
    worker = OutboxWorker(
        db, {kinds.MATRIX_NOTICE: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    assert (await db.outbox.get("reply:privacy:$cmd") or {})["status"] == "dead"
    assert (await db.outbox.stats()).pending == 0, "no notice about a notice"


async def test_a_send_waits_for_its_senders_account_unless_that_was_given_up(
    db: Database, tmp_path: Path
) -> None:
    """A new Matrix user's account is created by one action, maybe in another room's
    queue; a send elsewhere waits for it without spending attempts (an outage of
    Rocket.Chat is no fault of the send), and fails for good once it was given up."""
    ids = Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))

    async def no_media(mxc: str) -> FetchedFile:
        raise AssertionError("not used")

    async def name(user_id: str) -> str | None:
        return None

    executors = RocketChatExecutors(
        RCRestClient("http://127.0.0.1:1"), db, ids, no_media, name, 1000
    ).table()
    payload = {
        "portal_id": 1,
        "rc_room_id": "room2",
        "rc_message_id": "m",
        "sender": "@new:hs2.test",
        "thread_id": None,
        "record": {"matrix_event_id": "$x", "sent_ms": 1000, "rc_thread_id": None},
        "text": "hello",
    }
    send = Action(1, "mx-msg:$x", kinds.RC_SEND, "rc:room2", payload, 0)
    await db.outbox.add(NewAction(keys.shadow_key("@new:hs2.test"), "rc.ensure_shadow", "q"))
    with pytest.raises(Waiting):
        await executors[kinds.RC_SEND](send)
    creation = await db.outbox.get(keys.shadow_key("@new:hs2.test"))
    assert creation is not None
    async with db.unit_of_work() as uow:
        await uow.outbox_dead(creation["id"], "name taken", "refused", uses_attempt=True, now=1)
    with pytest.raises(PermanentFailure, match="account could not be created"):
        await executors[kinds.RC_SEND](send)


async def test_sends_wait_for_their_portal_room_unless_its_creation_was_given_up(
    db: Database, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path / "c.yaml"), environ={})
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("rcnew", "c", None, "new room")
    executors = MatrixExecutors(cast(Any, None), db, Identities(config), config, cast(Any, None))
    send = executors.table()[kinds.MATRIX_SEND]
    action = Action(1, "rc-msg:m:0", kinds.MATRIX_SEND, f"matrix:{portal.id}", {
        "portal_id": portal.id, "sender": "@rc_a:hs1.test", "event_type": "m.room.message",
        "content": {"msgtype": "m.text", "body": "hi"},
    }, 0)  # fmt: skip
    await db.outbox.add(NewAction(keys.portal_key("rcnew"), kinds.CREATE_PORTAL, "q"))
    with pytest.raises(Waiting):
        await send(action)
    creation = await db.outbox.get(keys.portal_key("rcnew"))
    assert creation is not None
    async with db.unit_of_work() as uow:
        await uow.outbox_dead(creation["id"], "M_FORBIDDEN", "refused", uses_attempt=True, now=1)
    with pytest.raises(PermanentFailure, match="Matrix room could not be created"):
        await send(action)
