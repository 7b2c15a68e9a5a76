"""The engine without homeservers: state machine, planning, deadlines, no admin token,
the request log and its retention, the CLI, and the outbox claim on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.cli.main import main
from bridge.ids import RCRoomID, RoomID, ServerName
from bridge.pipeline import keys
from bridge.privacy import report as words
from bridge.privacy.deadlines import (
    DeadlineError,
    Jurisdiction,
    add_business_days,
    check_extension,
    deadlines,
)
from bridge.privacy.erasure import LOG_RETENTION_MS, EngineSettings, ErasureEngine
from bridge.privacy.erasure_model import (
    ErasureScope,
    InvalidTransitionError,
    Requester,
    RequesterSide,
    RequestState,
)
from bridge.privacy.erasure_plan import PlanSettings
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import Database
from bridge.storage.outbox import NewAction
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import keyed_database
from tests.privacy.helpers import ALICE, BOB, BOT, ROOM, SETTINGS, member, message

OFFICER = Requester("dpo", RequesterSide.ADMIN)
DAY = 86_400_000


def _ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)


def _engine(db: Database, *, admin_token: bool, mode: str = "self-service") -> ErasureEngine:
    plan = PlanSettings(
        local_server=ServerName("hs1.test"),
        rocketchat=SETTINGS.rocketchat,
        bot=BOT,
        admin_token=admin_token,
    )
    return ErasureEngine(db, EngineSettings(plan=plan, ledger=SETTINGS, mode=mode))  # type: ignore[arg-type]


async def _seed(db: Database) -> None:
    """Alice (Rocket.Chat) wrote 2 messages in a room hs2 was in; hs3 left before."""
    ledger = DisclosureLedger(SETTINGS)
    async with db.unit_of_work() as uow:
        await ledger.bind_room(uow, RoomID(ROOM), RCRoomID("rcroom"))
    await member(db, ledger, "@bridge:hs1.test", "join", 1_000)
    await member(db, ledger, "@bob:hs2.test", "join", 1_000)
    await member(db, ledger, "@carol:hs3.test", "join", 1_000)
    await message(db, ledger, ALICE, 2_000)
    await message(db, ledger, ALICE, 3_000)
    await message(db, ledger, BOB, 3_500, mentions=(ALICE,))  # Bob mentions Alice
    await member(db, ledger, "@carol:hs3.test", "leave", 4_000)


def test_gdpr_month_and_ccpa_business_days() -> None:
    assert deadlines(Jurisdiction.GDPR, _ms(2027, 1, 31)).due_ms == _ms(2027, 2, 28)
    ccpa = deadlines(Jurisdiction.CCPA, _ms(2027, 1, 1))  # a Friday
    assert ccpa.due_ms == _ms(2027, 2, 15)
    assert ccpa.receipt_due_ms == _ms(2027, 1, 15)  # 10 weekdays later
    assert add_business_days(dt.datetime(2027, 1, 8, tzinfo=dt.UTC), 1).weekday() == 0
    with pytest.raises(DeadlineError):
        check_extension(Jurisdiction.GDPR, _ms(2027, 1, 1), _ms(2027, 3, 1), "  ")
    with pytest.raises(DeadlineError):
        check_extension(Jurisdiction.CCPA, _ms(2027, 1, 1), _ms(2027, 6, 1), "complex")
    check_extension(Jurisdiction.GDPR, _ms(2027, 1, 1), _ms(2027, 3, 1), "many rooms")


async def test_admin_approval_waits_then_plans_without_admin_token(db: Database) -> None:
    await _seed(db)
    engine = _engine(db, admin_token=False, mode="admin-approval")
    rid = await engine.request("rcAlice", Requester("rcAlice", RequesterSide.ROCKETCHAT))
    await engine.verify(rid, "rc-bot")
    await engine.step()
    assert (await engine.status(rid)).state is RequestState.VERIFIED, "waits for approval"
    await engine.approve(rid, "dpo")
    await engine.step()  # plan
    await engine.step()  # enqueue
    status = await engine.status(rid)
    assert status.state is RequestState.EXECUTING
    # Two own messages to redact and delete; the mention is Bob's message: not touched.
    assert status.matrix == {words.PENDING: 2, words.NOT_NEEDED: 1}
    assert status.rocketchat == {words.PENDING: 2, words.NOT_NEEDED: 1}
    by = {(r.recipient, r.room_id): r for r in status.recipients}
    assert by[("hs2.test", ROOM)].reach == "in_room"
    assert by[("hs3.test", ROOM)].status == words.LEFT_ROOM
    assert by[("hs3.test", None)].status == words.PENDING  # it still gets a notice
    steps = {s.step: s for s in status.steps}
    # Without homeserver.admin_token: reported as not possible, not silently skipped.
    assert steps["delivery_evidence"].status == words.NOT_POSSIBLE
    async with db.unit_of_work() as uow:
        actions = await uow.erasure.action_counts(keys.erasure_key_prefix(rid))
    assert actions == {"pending": 2 + 2 + 2}  # redactions, RC deletes, 2 notices
    assert await db.outbox.get(keys.erasure_delivery_key(rid, "hs2.test")) is None
    with pytest.raises(InvalidTransitionError):
        await engine.cancel(rid, "dpo")  # executing: too late to withdraw


async def test_planning_twice_enqueues_nothing_twice(db: Database) -> None:
    await _seed(db)
    engine = _engine(db, admin_token=True)
    rid = await engine.request("rcAlice", OFFICER, ErasureScope(before_ms=2_500), verified=True)
    for _ in range(4):
        await engine.step()
    async with db.unit_of_work() as uow:
        items = await uow.erasure.items(rid)
        first = await uow.erasure.action_counts(keys.erasure_key_prefix(rid))
    assert [i.sent_ms for i in items] == [2_000]  # scope: before 2.5 s
    # A repeat of the enqueue (a crash before its commit) adds nothing: keys are derived.
    request = None
    async with db.unit_of_work() as uow:
        request = await uow.erasure.request(rid)
        await uow.erasure.update_request(rid, state=RequestState.PLANNED.value)
    assert request is not None
    await engine.step()
    async with db.unit_of_work() as uow:
        assert await uow.erasure.action_counts(keys.erasure_key_prefix(rid)) == first
    # hs2's delivery check waits for the redaction in its room (test_delivery_sequence.py).
    assert await db.outbox.get(keys.erasure_delivery_key(rid, "hs2.test")) is None


async def test_deny_cancel_overdue_and_log_retention(db: Database) -> None:
    await _seed(db)
    engine = _engine(db, admin_token=True, mode="admin-approval")
    denied = await engine.request("rcAlice", OFFICER, jurisdiction=Jurisdiction.CCPA)
    await engine.deny(denied, "dpo", "identity not confirmed")
    cancelled = await engine.request("rcAlice", OFFICER)
    await engine.cancel(cancelled, "rcAlice")
    late = await engine.request("rcAlice", OFFICER, jurisdiction=Jurisdiction.CCPA)
    status = await engine.status(late)
    flagged = await engine.overdue(now=status.receipt_due_ms + 1)  # type: ignore[operator]
    assert [(o.id, o.receipt_overdue) for o in flagged] == [(late, True)]
    await engine.confirm_receipt(late, "dpo")
    assert await engine.overdue(now=status.receipt_due_ms + 1) == []  # type: ignore[operator]
    assert [o.id for o in await engine.overdue(now=status.due_ms + 1)] == [late]
    await engine.extend(late, "dpo", status.due_ms + 30 * DAY, "1,000 rooms to search")
    assert await engine.overdue(now=status.due_ms + 1) == []
    log = (await engine.status(denied)).log
    assert [e.event for e in log] == ["received", "denied"]
    assert log[1].actor == "dpo" and log[1].detail == "identity not confirmed"
    # The request log is kept 24 months after a request finished, then pruned.
    finished = (await engine.status(denied)).finished_ms
    assert finished is not None
    assert await engine.prune_log(now=finished + LOG_RETENTION_MS - DAY) == 0
    assert await engine.prune_log(now=finished + LOG_RETENTION_MS + DAY) == 2


def test_cli_status_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.yaml")
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    db = keyed_database(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}")

    async def seed() -> str:
        try:
            await _seed(db)
            return await _engine(db, admin_token=False).request("rcAlice", OFFICER)
        finally:
            await db.close()

    rid = asyncio.run(seed())
    capsys.readouterr()
    assert main(["privacy", "status", rid, "-c", str(config), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == rid and data["state"] == "received"
    assert data["subject"] == "rcAlice"
    assert main(["privacy", "erase", "nobody", "-c", str(config)]) == 1
    assert main(["privacy", "erase", "rcAlice", "--before", "soon", "-c", str(config)]) == 2
    assert "--before" in capsys.readouterr().err
    assert main(["privacy", "status", "er-none", "-c", str(config)]) == 1


async def test_two_workers_never_claim_the_same_action_on_postgresql(
    db: Database, db_url: str
) -> None:
    for q in range(10):
        for n in range(2):
            await db.outbox.add(NewAction(f"k{q}.{n}", "test", f"q{q}", {}))
    if not db_url.startswith("postgresql"):
        # SQLite runs one worker: no claim, the heads stay due until they are done.
        first = [a.key for a in await db.outbox.due(10)]
        assert first == [a.key for a in await db.outbox.due(10)]
        assert len(first) == 10 and all(k.endswith(".0") for k in first)
        return
    other = keyed_database(db_url)
    try:
        a, b = await asyncio.gather(db.outbox.due(10), other.outbox.due(10))
        claimed = [x.key for x in a] + [x.key for x in b]
        assert len(claimed) == len(set(claimed)) == 10  # each head once, by one worker
        assert all(k.endswith(".0") for k in claimed)  # heads only: order per queue kept
        assert await db.outbox.due(10) == []  # claimed heads block their queues
    finally:
        await other.close()


async def test_engines_of_several_processes_move_each_request_once(
    db: Database, db_url: str
) -> None:
    """Every process runs the engine (PostgreSQL): planning, enqueueing, finishing and
    flagging a request overdue each happen once, whichever engines step at the same time."""
    await _seed(db)
    others = [keyed_database(db_url) for _ in range(3)] if db_url.startswith("postgresql") else []
    engines = [_engine(d, admin_token=True) for d in [db, *others]]
    try:
        rid = await engines[0].request("rcAlice", OFFICER, verified=True)
        async with db.unit_of_work() as uow:  # long past its due date
            await uow.erasure.update_request(rid, due_ms=1)
        for _ in range(3):  # plan, enqueue, and a round with nothing left to move
            await asyncio.gather(*(e.step() for e in engines))
        status = await engines[0].status(rid)
        assert status.state is RequestState.EXECUTING
        assert status.matrix == {words.PENDING: 2, words.NOT_NEEDED: 1}
        async with db.sessions.begin() as session:
            await session.execute(text("UPDATE outbox SET status = 'done'"))
        await asyncio.gather(*(e.step() for e in engines))
        status = await engines[0].status(rid)
    finally:
        for other in others:
            await other.close()
    assert status.state is RequestState.DONE
    events = [e.event for e in status.log]
    for once in ("planned", "executing", "overdue", "done"):
        assert events.count(once) == 1, events
