"""Erasure and dead letters, without homeservers: an erasure never waits behind a room's
relay queue, and an erasure action that is given up leaves the request partially done,
saying what failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.bridging.dead_notices import dead_hooks as relay_dead_hooks
from bridge.ids import RCRoomID, RoomID, ServerName
from bridge.pipeline import keys
from bridge.pipeline import kinds as relay
from bridge.pipeline.actions import KINDS, Executors, Run, executor
from bridge.pipeline.contracts import Executor, RetryLater
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.erasure import EngineSettings, ErasureEngine
from bridge.privacy.erasure_hooks import ErasureRecords, observed
from bridge.privacy.erasure_hooks import dead_hooks as erasure_dead_hooks
from bridge.privacy.erasure_kinds import RedactItem
from bridge.privacy.erasure_model import Requester, RequesterSide, RequestState
from bridge.privacy.erasure_plan import PlanSettings
from bridge.privacy.erasure_status import render_report
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import Database
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import OutboxWorker, RetryBudget
from tests.privacy.helpers import ALICE, BOT, ROOM, SETTINGS, member, message

OFFICER = Requester("dpo", RequesterSide.ADMIN)


async def _seed(db: Database) -> int:
    """A portal; Alice (Rocket.Chat) wrote 2 messages there, seen by hs2."""
    ledger = DisclosureLedger(SETTINGS)
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("rcroom", "c", ROOM, "room")
        await ledger.bind_room(uow, RoomID(ROOM), RCRoomID("rcroom"))
    await member(db, ledger, "@bridge:hs1.test", "join", 1_000)
    await member(db, ledger, "@bob:hs2.test", "join", 1_000)
    await message(db, ledger, ALICE, 2_000)
    await message(db, ledger, ALICE, 3_000)
    return portal.id


def _engine(db: Database) -> ErasureEngine:
    plan = PlanSettings(
        local_server=ServerName("hs1.test"),
        rocketchat=SETTINGS.rocketchat,
        bot=BOT,
        admin_token=False,
    )
    return ErasureEngine(db, EngineSettings(plan=plan, ledger=SETTINGS))


def _worker(
    db: Database,
    executors: Executors,
    budget: RetryBudget,
    relay_executors: Mapping[str, Executor] | None = None,
) -> OutboxWorker:
    clock = iter(range(1_800_000_000_000, 1_900_000_000_000, 61_000))
    return OutboxWorker(
        db,
        {**observed(db, executors), **(relay_executors or {})},
        on_done=ErasureRecords().table(),
        on_dead=relay_dead_hooks() | erasure_dead_hooks(),
        budget=budget,
        clock=lambda: next(clock),
    )


async def _run(db: Database, engine: ErasureEngine, worker: OutboxWorker, rid: str) -> None:
    for _ in range(60):
        await engine.step()
        await worker.drain_once()
        if (await engine.status(rid)).state.finished:
            return


async def _erasure_ok(action: Run[Any]) -> dict[str, Any]:
    if action.kind == kinds.NOTICE:
        return {"contacts": [], "reason": "no contact published"}
    return {"redaction_id": "$redaction"} if action.kind == kinds.REDACT else {}


async def test_erasure_completes_while_the_rooms_relay_head_fails_forever(db: Database) -> None:
    portal_id = await _seed(db)

    async def stuck(action: Action) -> None:
        raise RetryLater("a broken attachment")

    # The room's relay queues, both directions, are held by heads that never succeed.
    await db.outbox.add(NewAction("rc-msg:stuck:0", relay.MATRIX_UPLOAD, f"matrix:{portal_id}"))
    await db.outbox.add(NewAction("mx-msg:$stuck", relay.RC_UPLOAD, "rc:rcroom"))
    engine = _engine(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    executors = {k: executor(KINDS[k], _erasure_ok) for k in kinds.ALL}
    relay_executors = {relay.MATRIX_UPLOAD: stuck, relay.RC_UPLOAD: stuck}
    budget = RetryBudget(10_000, 10**12)
    await _run(db, engine, _worker(db, executors, budget, relay_executors), rid)
    status = await engine.status(rid)
    assert status.state is RequestState.DONE, render_report(status)
    assert status.matrix == {words.REDACTION_SENT: 2}
    assert status.rocketchat == {words.DELETED: 2}
    for key in ("rc-msg:stuck:0", "mx-msg:$stuck"):
        stuck_row = await db.outbox.get(key)
        assert stuck_row is not None and stuck_row["status"] == "pending"


async def test_a_redaction_given_up_leaves_the_request_partially_done(db: Database) -> None:
    await _seed(db)
    refused: list[int] = []

    async def redact(action: Run[RedactItem]) -> dict[str, Any]:
        if not refused or refused[0] == action.payload.disclosure_id:
            refused[:1] = [action.payload.disclosure_id]
            raise RetryLater("homeserver answered 500")
        return await _erasure_ok(action)

    engine = _engine(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    executors: Executors = {k: executor(KINDS[k], _erasure_ok) for k in kinds.ALL}
    executors[kinds.REDACT] = executor(RedactItem, redact)
    await _run(db, engine, _worker(db, executors, RetryBudget(3, 10**12)), rid)
    status = await engine.status(rid)
    assert status.state is RequestState.PARTIALLY_DONE
    failed = words.failed("homeserver answered 500", retrying=False)
    assert status.matrix == {words.REDACTION_SENT: 1, failed: 1}
    report = render_report(status)
    assert words.label(failed) in report
    assert "): pending" not in report, "a finished request shows nothing as still pending"
    dead = await db.outbox.get(keys.erasure_redact_key(rid, refused[0]))
    assert dead is not None and (dead["status"], dead["attempts"]) == ("dead", 3)


async def _with_ghost(db: Database) -> None:
    """Alice's messages were bridged by her ghost: her erasure scrubs its profile."""
    await _seed(db)
    async with db.unit_of_work() as uow:
        await uow.bridging.upsert_ghost("rcAlice", "alice", "@rc_alice:hs1.test")


async def test_the_ghost_scrub_is_queued_when_the_last_redaction_settles(db: Database) -> None:
    """Not queued with the plan and polled: the done hook of the last redaction queues it,
    so it runs once, after every redaction, and never waits."""
    await _with_ghost(db)
    engine = _engine(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    ran: list[str] = []

    async def record(action: Run[Any]) -> dict[str, Any]:
        ran.append(action.kind)
        return await _erasure_ok(action)

    executors = {k: executor(KINDS[k], record) for k in kinds.ALL}
    worker = _worker(db, executors, RetryBudget(3, 10**12))
    for _ in range(5):
        await engine.step()  # planned and queued; nothing run yet
    scrub = keys.erasure_step_key(rid, "ghost_profile")
    assert await db.outbox.get(scrub) is None, "queued before the redactions settled"
    await _run(db, engine, worker, rid)
    status = await engine.status(rid)
    # (partially: deleting media needs an admin token, which this engine has not)
    assert status.state.finished, render_report(status)
    assert ran.count(kinds.GHOST_SCRUB) == 1
    last_redaction = max(i for i, kind in enumerate(ran) if kind == kinds.REDACT)
    assert ran.index(kinds.GHOST_SCRUB) > last_redaction
    row = await db.outbox.get(scrub)
    assert row is not None and (row["status"], row["attempts"]) == ("done", 0)
    assert {s.step: s.status for s in status.steps}["ghost_profile"] == words.DONE


async def test_a_redaction_given_up_still_lets_the_ghost_scrub_go(db: Database) -> None:
    await _with_ghost(db)

    async def redact(action: Run[RedactItem]) -> dict[str, Any]:
        raise RetryLater("homeserver answered 500")

    engine = _engine(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    executors: Executors = {k: executor(KINDS[k], _erasure_ok) for k in kinds.ALL}
    executors[kinds.REDACT] = executor(RedactItem, redact)
    await _run(db, engine, _worker(db, executors, RetryBudget(3, 10**12)), rid)
    status = await engine.status(rid)
    assert status.state is RequestState.PARTIALLY_DONE, render_report(status)
    assert {s.step: s.status for s in status.steps}["ghost_profile"] == words.DONE
