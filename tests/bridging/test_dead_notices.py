"""A relayed message that becomes a dead letter: the room it came from is told, once,
without its content; replies and other actions with no one waiting tell no one."""

from __future__ import annotations

import pytest

from bridge.bridging import actions
from bridge.bridging.dead_notices import dead_hooks
from bridge.storage.database import Database
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import OutboxWorker, PermanentFailure, RetryBudget, RetryLater

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
    payload = {
        "portal_id": portal_id,
        "content": {"msgtype": "m.text", "body": SECRET},
        "record": {"rc_message_id": "abc", "sent_ms": 1_800_000_000_000},
    }
    await db.outbox.add(NewAction(key, actions.MATRIX_SEND, f"matrix:{portal_id}", payload))
    worker = OutboxWorker(
        db, {actions.MATRIX_SEND: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    assert (await db.outbox.get(key) or {})["status"] == "dead"
    notice = await db.outbox.get(f"dead-notice:{key}")
    assert notice is not None
    assert (notice["kind"], notice["queue"]) == (
        actions.RC_NOTICE,
        actions.reply_queue("rocketchat", "rcroom"),
    )
    text = notice["payload"]["text"]
    assert notice["payload"]["room_id"] == "rcroom"
    assert text.startswith("A message sent here at 2027-01-15 08:00 UTC could not be delivered")
    assert "to Matrix" in text and SECRET not in text and "nope" not in text


async def test_a_deletion_to_rocketchat_that_dies_is_reported_in_its_matrix_room(
    db: Database,
) -> None:
    await _portal(db)
    payload = {"rc_room_id": "rcroom", "rc_message_id": "m1"}
    await db.outbox.add(NewAction("mx-redact:$e", actions.RC_DELETE, "rc:rcroom", payload))
    worker = OutboxWorker(
        db, {actions.RC_DELETE: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    notice = await db.outbox.get("dead-notice:mx-redact:$e")
    assert notice is not None
    assert (notice["kind"], notice["payload"]["room_id"]) == (actions.MATRIX_NOTICE, MATRIX_ROOM)
    assert notice["payload"]["text"].startswith("A deletion sent here could not be delivered")


async def test_a_reply_that_dies_tells_no_one(db: Database) -> None:
    await _portal(db)
    reply = actions.notice("matrix", "reply:privacy:$cmd", MATRIX_ROOM, "your request …")
    await db.outbox.add(reply)
    worker = OutboxWorker(
        db, {actions.MATRIX_NOTICE: _fail}, on_dead=dead_hooks(), budget=RetryBudget(1)
    )
    await worker.drain_once()
    assert (await db.outbox.get("reply:privacy:$cmd") or {})["status"] == "dead"
    assert (await db.outbox.stats()).pending == 0, "no notice about a notice"
