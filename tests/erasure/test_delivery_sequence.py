"""Delivery evidence without homeservers: when a server's first check is queued (once the
redactions in all its rooms settled, never polled for), what a check's snapshot records
and the follow-up it queues, and a check an older version queued with the plan."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from sqlalchemy import select

from bridge.ids import RCRoomID, RoomID, ServerName
from bridge.pipeline import keys
from bridge.pipeline.actions import Run, executor
from bridge.pipeline.contracts import Waiting
from bridge.privacy import erasure_delivery as delivery
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.erasure import EngineSettings, ErasureEngine
from bridge.privacy.erasure_hooks import ErasureRecords, dead_hooks, sequenced
from bridge.privacy.erasure_inputs import completed
from bridge.privacy.erasure_kinds import Delivery, DeliveryObserved
from bridge.privacy.erasure_model import Requester, RequesterSide, RequestState
from bridge.privacy.erasure_plan import PlanSettings
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import Action
from tests.privacy.helpers import ALICE, BOT, OTHER_ROOM, ROOM, SETTINGS, member, message

OFFICER = Requester("dpo", RequesterSide.ADMIN)
HS2, HS3 = "hs2.test", "hs3.test"


async def _planned(db: Database) -> str:
    """Alice's copies: two in ROOM (hs2 and hs3 in it), one in OTHER_ROOM (hs2 only)."""
    ledger = DisclosureLedger(SETTINGS)
    async with db.unit_of_work() as uow:
        await ledger.bind_room(uow, RoomID(ROOM), RCRoomID("rcroom"))
        await ledger.bind_room(uow, RoomID(OTHER_ROOM), RCRoomID("rcother"))
    for room in (ROOM, OTHER_ROOM):
        await member(db, ledger, "@bridge:hs1.test", "join", 1_000, room)
        await member(db, ledger, "@bob:hs2.test", "join", 1_000, room)
    await member(db, ledger, "@carol:hs3.test", "join", 1_000)
    await message(db, ledger, ALICE, 2_000)
    await message(db, ledger, ALICE, 3_000)
    await message(db, ledger, ALICE, 4_000, room=OTHER_ROOM)
    plan = PlanSettings(
        local_server=ServerName("hs1.test"),
        rocketchat=SETTINGS.rocketchat,
        bot=BOT,
        admin_token=True,
    )
    engine = ErasureEngine(db, EngineSettings(plan=plan, ledger=SETTINGS))  # type: ignore[arg-type]
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    for _ in range(4):
        await engine.step()
    assert (await engine.status(rid)).state is RequestState.EXECUTING
    return rid


async def _stored(db: Database, key: str) -> Action:
    row = await db.outbox.get(key)
    assert row is not None, key
    return Action(row["id"], key, row["kind"], row["queue"], row["payload"], row["attempts"])


async def _redactions(db: Database, rid: str, room: str) -> list[Action]:
    async with db.unit_of_work() as uow:
        items = [i for i in await uow.erasure.items(rid) if i.room_id == room]
    return [await _stored(db, keys.erasure_redact_key(rid, i.disclosure_id)) for i in items]


async def _done(db: Database, action: Action, result: dict[str, Any]) -> None:
    """``action``'s done hook, as the outbox runs it in the transaction marking it done."""
    async with db.unit_of_work() as uow:
        await ErasureRecords().table()[action.kind](uow, action, result)


async def _recipient(db: Database, rid: str, server: str, room: str) -> tuple[str, str | None]:
    async with db.unit_of_work() as uow:
        rows = await uow.erasure.recipients(rid)
    (row,) = [r for r in rows if r.recipient == server and r.room_id == room]
    return row.status, row.detail


async def _checks(db: Database, rid: str, server: str) -> dict[str, int]:
    async with db.unit_of_work() as uow:
        return await uow.erasure.action_counts(keys.erasure_delivery_key(rid, server))


async def test_first_check_is_queued_once_the_servers_rooms_settle(db: Database) -> None:
    rid = await _planned(db)
    # Every room still has a redaction to send: no check is queued (none polls either).
    assert await _checks(db, rid, HS2) == {} and await _checks(db, rid, HS3) == {}
    first, second = await _redactions(db, rid, ROOM)
    await _done(db, first, {"redaction_id": "$r1"})
    assert await _checks(db, rid, HS3) == {}, "one of ROOM's redactions is still open"
    await _done(db, second, {"redaction_id": "$r2"})
    # hs3 is in ROOM only: its rooms are settled. hs2 waits for OTHER_ROOM too.
    check = await db.outbox.get(keys.erasure_delivery_key(rid, HS3))
    assert check is not None and check["queue"] == keys.erasure_delivery_queue(rid, HS3)
    assert check["payload"]["rooms"] == [ROOM]
    assert check["payload"]["deadline_ms"] > now_ms()
    assert await _checks(db, rid, HS2) == {}
    # A redaction given up for good settles its room too.
    (other,) = await _redactions(db, rid, OTHER_ROOM)
    async with db.unit_of_work() as uow:
        await dead_hooks()[kinds.REDACT](uow, other, "M_FORBIDDEN")
    check = await db.outbox.get(keys.erasure_delivery_key(rid, HS2))
    assert check is not None and check["payload"]["rooms"] == sorted([ROOM, OTHER_ROOM])
    # A repeat of a settling hook queues nothing twice.
    await _done(db, second, {"redaction_id": "$r2"})
    assert await _checks(db, rid, HS2) == {"pending": 1} == await _checks(db, rid, HS3)


async def _settle_all(db: Database, rid: str) -> None:
    for room in (ROOM, OTHER_ROOM):
        for n, action in enumerate(await _redactions(db, rid, room)):
            await _done(db, action, {"redaction_id": f"$r{n}"})


async def test_a_check_with_rooms_pending_records_them_and_checks_again_once(db: Database) -> None:
    rid = await _planned(db)
    await _settle_all(db, rid)
    check = await _stored(db, keys.erasure_delivery_key(rid, HS2))
    snapshot = {"delivered": [OTHER_ROOM], "pending": [ROOM]}
    before = now_ms()
    await _done(db, check, snapshot)
    assert await _recipient(db, rid, HS2, OTHER_ROOM) == (words.DELIVERED, None)
    assert await _recipient(db, rid, HS2, ROOM) == (words.REDACTION_SENT, "awaiting delivery")
    follow_up = keys.erasure_delivery_check_key(rid, HS2, 1)
    row = await db.outbox.get(follow_up)
    assert row is not None and row["queue"] == check.queue
    assert row["payload"] == {**check.payload, "rooms": [ROOM], "check": 1}
    async with db.sessions.begin() as session:
        not_before = await session.scalar(
            select(OutboxAction.next_attempt_ms).where(OutboxAction.key == follow_up)
        )
    assert not_before is not None and not_before >= before + delivery.CHECK_INTERVAL_MS
    # The same hook again (a crash before its commit, then a repeat) queues nothing twice.
    await _done(db, check, snapshot)
    assert await _checks(db, rid, HS2) == {"pending": 2}
    # The follow-up sees our homeserver failing to reach hs2: it says so, and checks again.
    follow = await _stored(db, follow_up)
    await _done(db, follow, {"delivered": [], "pending": [ROOM], "failure_ts": 1_000})
    status, detail = await _recipient(db, rid, HS2, ROOM)
    assert words.is_retrying(status) and "unreachable since 00:00:01 UTC" in status
    assert detail == "redaction sent; delivery retrying"
    assert await db.outbox.get(keys.erasure_delivery_check_key(rid, HS2, 2)) is not None
    # Delivered evidence is kept whatever a later check says.
    assert await _recipient(db, rid, HS2, OTHER_ROOM) == (words.DELIVERED, None)


async def test_past_the_deadline_pending_rooms_stay_redaction_sent(db: Database) -> None:
    rid = await _planned(db)
    await _settle_all(db, rid)
    check = await _stored(db, keys.erasure_delivery_key(rid, HS3))
    late = Action(
        check.id, check.key, check.kind, check.queue, {**check.payload, "deadline_ms": 1}, 0
    )
    await _done(db, late, {"delivered": [], "pending": [ROOM]})
    assert await _recipient(db, rid, HS3, ROOM) == (words.REDACTION_SENT, delivery.UNCONFIRMED)
    assert await _checks(db, rid, HS3) == {"pending": 1}, "no next check"
    # A server that caught up: delivered, and no next check either.
    check = await _stored(db, keys.erasure_delivery_key(rid, HS2))
    await _done(db, check, {"delivered": [ROOM, OTHER_ROOM]})
    assert await _recipient(db, rid, HS2, ROOM) == (words.DELIVERED, None)
    assert await _checks(db, rid, HS2) == {"pending": 1}


async def test_a_check_an_older_version_queued_waits_then_runs_with_its_rooms(
    db: Database,
) -> None:
    rid = await _planned(db)
    # As an older version queued it with the plan: no rooms, before the redactions.
    old = Action(1, keys.erasure_delivery_key(rid, HS2), kinds.DELIVERY, "q", {
        "request_id": rid, "server": HS2, "deadline_ms": now_ms() + 60_000
    }, 0)  # fmt: skip
    seen: list[Delivery] = []

    async def check(run: Run[Delivery]) -> DeliveryObserved:
        seen.append(run.payload)
        return DeliveryObserved((), pending=run.payload.rooms or ())

    table = {kinds.DELIVERY: executor(Delivery, check)}
    run = sequenced(db, completed(db, table, {kinds.DELIVERY: delivery.COMPLETER}))
    with pytest.raises(Waiting, match="waiting for the redactions"):
        await run[kinds.DELIVERY](old)
    assert seen == []
    await _settle_all(db, rid)
    result = await run[kinds.DELIVERY](old)
    assert seen == [Delivery(rid, HS2, old.payload["deadline_ms"], (OTHER_ROOM, ROOM))]
    # Its done hook (given the row as stored) checks again, now naming the rooms.
    await _done(db, old, result or {})
    row = await db.outbox.get(keys.erasure_delivery_check_key(rid, HS2, 1))
    assert row is not None and row["payload"]["rooms"] == sorted([ROOM, OTHER_ROOM])


def test_checks_slow_down_to_every_30_seconds() -> None:
    """A server that stays behind for the whole hour is checked about 125 times, not every
    2 s (1,800 actions): 2 s after the first check, doubling, at most 30 s apart."""
    first = Delivery("er-1", HS2, 0, rooms=(ROOM,))
    waits, payload, clock = [], first, now_ms()
    for _ in range(8):
        action = delivery.next_check(payload, (ROOM,))
        assert action.not_before_ms is not None
        waits.append(round((action.not_before_ms - clock) / 1000))
        payload = attrs.evolve(payload, check=payload.check + 1)
        clock = now_ms()
    assert waits == [2, 4, 8, 16, 30, 30, 30, 30]
    total, n = 0.0, 0
    while total < delivery.TIMEOUT_MS / 1000:
        n += 1
        total += delivery.CHECKS.ceiling(n)
    assert n <= 130, n
