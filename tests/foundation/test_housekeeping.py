"""The prunings run in the bridge on a schedule, each after its configured retention."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from bridge.config import Config, load_config
from bridge.metrics import REGISTRY
from bridge.privacy.erasure import LOG_RETENTION_MS, ErasureEngine, erasure_settings
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.pseudonyms import person_name
from bridge.storage.commands_rows import ConfirmationRow
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure_rows import ErasureRequestRow
from bridge.storage.inbox import StoredEvent
from bridge.storage.ledger_rows import Disclosure
from bridge.storage.models import AppServiceTransaction, InboxEvent, OutboxAction
from bridge.storage.outbox import Action, NewAction
from bridge.workers.housekeeping import DAY_MS, HOUR_MS, Housekeeping, PruneJob, housekeeping
from bridge.workers.inbox import InboxWorker
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.bridge_config import write_config
from tests.fixtures.inbox import records
from tests.privacy.helpers import ALICE, SETTINGS, message

EPOCH_MS = 1_800_000_000_000  # a fixed "now" for the rows written by hand


def _config(tmp_path: Path) -> Config:
    return load_config(
        write_config(
            tmp_path / "config.yaml",
            storage={"done_retention_hours": 48},
            privacy={"ledger_retention_days": 30},
        )
    )


def _last_run(job: str) -> float | None:
    value = REGISTRY.get_sample_value("bridge_prune_last_run_timestamp_seconds", {"job": job})
    return None if value is None else float(value)


async def _count(db: Database, column: object) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count(column))) or 0)  # type: ignore[arg-type]


async def _process_one_of_each(db: Database) -> None:
    """A processed and a pending inbox event, a done and a pending outbox action."""

    async def handle(uow: UnitOfWork, event: StoredEvent) -> None:
        if event.event_id == "$pending":
            raise RuntimeError("not yet")

    async def run(action: Action) -> None:
        return None

    await db.inbox.store_matrix_transaction("t1", b"h" * 32, records([{"event_id": "$done"}]))
    await db.inbox.store_events("matrix", records([{"event_id": "$pending"}]))
    await InboxWorker(db, handle).drain_once()
    await db.outbox.add(NewAction("done", "run", "q1"))
    await OutboxWorker(db, {"run": run}).drain_once()
    await db.outbox.add(NewAction("pending", "never", "q2", not_before_ms=EPOCH_MS * 2))


async def test_processed_rows_go_after_the_retention_pending_ones_stay(
    db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    await _process_one_of_each(db)
    jobs = housekeeping(
        config, db, ErasureEngine(db, erasure_settings(config)), DisclosureLedger(SETTINGS)
    )
    processed_at = now_ms()
    # Within the retention, a redelivery must still be recognised: nothing goes.
    assert (await jobs.run_once(processed_at + 47 * HOUR_MS))["processed_queues"] == 0
    assert await db.inbox.store_events("matrix", records([{"event_id": "$done"}])) == 0
    removed = await jobs.run_once(processed_at + 49 * HOUR_MS)
    assert removed["processed_queues"] == 3  # the inbox event, the action, the transaction id
    assert await _count(db, AppServiceTransaction.txn_id) == 0
    async with db.sessions() as session:
        inbox = list(await session.scalars(select(InboxEvent.event_id)))
        outbox = list(await session.scalars(select(OutboxAction.key)))
    assert inbox == ["$pending"] and outbox == ["pending"]
    assert _last_run("processed_queues") == (processed_at + 49 * HOUR_MS) / 1000


async def test_bodies_an_older_version_left_in_processed_rows_are_blanked_at_once(
    db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    async with db.sessions.begin() as session:  # as an older version left them
        session.add_all(
            [
                InboxEvent(
                    source="matrix",
                    event_id="$old",
                    payload='{"body":"old secret"}',
                    status="failed",
                    attempts=8,
                    received_ms=EPOCH_MS,
                ),
                InboxEvent(
                    source="matrix",
                    event_id="$done",
                    payload='{"body":"old secret"}',
                    status="done",
                    received_ms=EPOCH_MS,
                    processed_ms=EPOCH_MS,
                ),
                OutboxAction(
                    key="old",
                    kind="send",
                    queue="q",
                    payload='{"body":"old secret"}',
                    result='{"auth_token":"old"}',
                    status="done",
                    next_attempt_ms=EPOCH_MS,
                    created_ms=EPOCH_MS,
                    done_ms=EPOCH_MS,
                ),
            ]
        )
    jobs = housekeeping(
        config, db, ErasureEngine(db, erasure_settings(config)), DisclosureLedger(SETTINGS)
    )
    assert (await jobs.run_once(EPOCH_MS + HOUR_MS))["processed_queues"] == 0
    async with db.sessions() as session:
        inbox = set(await session.scalars(select(InboxEvent.payload)))
        outbox = set(
            (await session.execute(select(OutboxAction.payload, OutboxAction.result))).all()
        )
    assert inbox == {"{}"} and outbox == {("{}", None)}
    # The one given up without a processed time goes after the retention all the same.
    assert (await jobs.run_once(EPOCH_MS + 49 * HOUR_MS))["processed_queues"] == 3


async def test_expired_confirmation_codes_go_after_the_retention(
    db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    async with db.unit_of_work() as uow:
        for purpose, expires in (("delete", EPOCH_MS), ("purge", EPOCH_MS + 10 * HOUR_MS)):
            await uow.commands.add_confirmation(
                await person_name(uow, "matrix:@a:hs1.test"), "h", purpose, "{}", expires
            )
    jobs = housekeeping(
        config, db, ErasureEngine(db, erasure_settings(config)), DisclosureLedger(SETTINGS)
    )
    # 49 hours after the first code expired, 39 after the second.
    assert (await jobs.run_once(EPOCH_MS + 49 * HOUR_MS))["processed_queues"] == 1
    async with db.sessions() as session:
        assert list(await session.scalars(select(ConfirmationRow.purpose))) == ["purge"]


async def test_the_ledger_and_the_request_log_are_pruned_after_their_retention(
    db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    ledger = DisclosureLedger(SETTINGS)
    for at in (EPOCH_MS, EPOCH_MS + 10 * DAY_MS):
        await message(db, ledger, ALICE, at)
    async with db.sessions.begin() as session:
        for rid, finished in (("old", EPOCH_MS - LOG_RETENTION_MS), ("new", EPOCH_MS)):
            session.add(_finished_request(rid, finished))
    jobs = housekeeping(config, db, ErasureEngine(db, erasure_settings(config)), ledger)
    now = EPOCH_MS + 35 * DAY_MS  # the first disclosure is 35 days old, the second 25
    removed = await jobs.run_once(now)
    assert (removed["ledger"], removed["request_log"]) == (1, 1)
    async with db.sessions() as session:
        assert list(await session.scalars(select(Disclosure.sent_ms))) == [EPOCH_MS + 10 * DAY_MS]
        assert list(await session.scalars(select(ErasureRequestRow.id))) == ["new"]
    assert _last_run("ledger") == _last_run("request_log") == now / 1000


async def test_a_failing_job_does_not_stop_the_others_nor_claim_a_run() -> None:
    ran: list[str] = []

    async def broken(now: int) -> int:
        raise RuntimeError("database away")

    async def fine(now: int) -> int:
        ran.append("fine")
        return 0

    before = _last_run("broken-job")
    jobs = Housekeeping(
        [PruneJob("broken-job", broken), PruneJob("fine-job", fine)], interval_seconds=60
    )
    assert await jobs.run_once(EPOCH_MS) == {"fine-job": 0}
    assert ran == ["fine"]
    assert _last_run("broken-job") == before
    assert _last_run("fine-job") == EPOCH_MS / 1000


def _finished_request(rid: str, finished_ms: int) -> ErasureRequestRow:
    return ErasureRequestRow(
        id=rid,
        subject_ref=1,
        subject_origin=1,
        requester="pseudonym",
        requester_side="matrix",
        jurisdiction="gdpr",
        state="done",
        received_ms=finished_ms - DAY_MS,
        due_ms=finished_ms,
        finished_ms=finished_ms,
        updated_ms=finished_ms,
    )


async def test_a_pruning_round_leaves_no_finished_body_in_the_sqlite_files(
    tmp_path: Path,
) -> None:
    """SQLite's write-ahead log keeps the page images of every write, the body of an
    event stored while in flight included, until later writes overwrite them; scrubbing
    the row does not reach them. A pruning round empties the log."""
    config = _config(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    db = Database(f"sqlite+aiosqlite:///{folder / 'bridge.db'}", pseudonym_key=b"k" * 32)
    marker = b"quokka-saffron-4417"
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 1

        async def handle(uow: UnitOfWork, event: StoredEvent) -> None:
            return None

        body = {"msgtype": "m.text", "body": marker.decode() * 40}
        await db.inbox.store_events("matrix", records([{"event_id": "$said", "content": body}]))
        await InboxWorker(db, handle).drain_once()
        # The row is scrubbed, but the page written while it was in flight is in the log.
        assert any(marker in f.read_bytes() for f in folder.iterdir())
        jobs = housekeeping(
            config, db, ErasureEngine(db, erasure_settings(config)), DisclosureLedger(SETTINGS)
        )
        # Within the retention: the processed row stays (a redelivery is still known)...
        assert (await jobs.run_once())["processed_queues"] == 0
        assert await db.inbox.store_events("matrix", records([{"event_id": "$said"}])) == 0
        # ...and no file of the database holds the body any more.
        assert [f.name for f in folder.iterdir() if marker in f.read_bytes()] == []
    finally:
        await db.close()
