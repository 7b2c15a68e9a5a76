"""Ledger pruning keeps per-recipient, per-day counts that name no one.

Seed a ledger over two days (two rooms, a server joining on the second day, a Matrix
message with a mention, a file), prune it with the housekeeping job at a chosen "now", and
check: the old rows are gone and the new one stays; the day counts equal what the ledger
said before for each recipient, day and category; a second pruning adds nothing; a
pruning that dies before commit leaves both tables as they were; two prunings at once
count each item once; the table holds no subject, person, room, event or content.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.cli.main import main
from bridge.config import Config, load_config
from bridge.privacy.categories import Category, Origin
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.queries import Flow, LedgerQueries
from bridge.storage.database import Database
from bridge.storage.ledger_rows import Disclosure, LedgerAggregate
from bridge.workers.housekeeping import DAY_MS, HOUR_MS, housekeeping
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, BOB, OTHER_ROOM, SETTINGS, member, message

EPOCH_MS = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS  # midnight UTC, a fixed "now"
DAY0 = dt.date(1970, 1, 1) + dt.timedelta(days=EPOCH_MS // DAY_MS)
NOW = EPOCH_MS + 45 * DAY_MS  # with a 30-day retention: everything before day 15 goes
CUTOFF = NOW - 30 * DAY_MS
RC = SETTINGS.rocketchat


@pytest.fixture
def ledger() -> DisclosureLedger:
    return DisclosureLedger(SETTINGS)


def _config(tmp_path: Path) -> Config:
    return load_config(
        write_config(tmp_path / "config.yaml", privacy={"ledger_retention_days": 30})
    )


async def _seed(db: Database, ledger: DisclosureLedger) -> None:
    day1 = EPOCH_MS + DAY_MS
    await member(db, ledger, "@carol:hs2.test", "join", EPOCH_MS)
    await member(db, ledger, "@carol:hs2.test", "join", EPOCH_MS, room=OTHER_ROOM)
    await message(db, ledger, ALICE, EPOCH_MS + HOUR_MS)
    # A Matrix message mentioning alice: two rows, both Matrix-origin (Rocket.Chat got it).
    await message(db, ledger, BOB, EPOCH_MS + 2 * HOUR_MS, origin=Origin.MATRIX,
                  mentions=(ALICE,))  # fmt: skip
    await message(db, ledger, ALICE, EPOCH_MS + 3 * HOUR_MS, room=OTHER_ROOM)
    await member(db, ledger, "@dave:hs3.test", "join", day1 + HOUR_MS)
    await message(db, ledger, ALICE, day1 + 2 * HOUR_MS,
                  categories=Category.MEDIA | Category.FILE_NAME)  # fmt: skip
    await message(db, ledger, ALICE, EPOCH_MS + 40 * DAY_MS)  # within the retention


async def _prune(db: Database, ledger: DisclosureLedger, tmp_path: Path, now: int) -> int:
    config = _config(tmp_path)
    jobs = housekeeping(config, db, ErasureEngine(db, erasure_settings(config)), ledger)
    return (await jobs.run_once(now))["ledger"]


async def _kept(db: Database) -> list[tuple[int, int, int, int]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(
                LedgerAggregate.server_ref,
                LedgerAggregate.day,
                LedgerAggregate.categories,
                LedgerAggregate.items,
            ).order_by(LedgerAggregate.server_ref, LedgerAggregate.day, LedgerAggregate.categories)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _sent(db: Database) -> list[int]:
    async with db.sessions() as session:
        return sorted(await session.scalars(select(Disclosure.sent_ms)))


def _by_key(flows: tuple[Flow, ...]) -> dict[tuple[str, dt.date], dict[str, int]]:
    return {
        (f.recipient, f.day): {"items": f.items} | {c.category.label: c.items for c in f.categories}
        for f in flows
    }


async def test_pruned_rows_leave_day_counts_equal_to_what_the_ledger_said(
    db: Database, ledger: DisclosureLedger, tmp_path: Path
) -> None:
    await _seed(db, ledger)
    queries = LedgerQueries(db)
    before = _by_key(await queries.flows(until_ms=CUTOFF))
    assert await queries.server_aggregate("hs2.test") is None

    assert await _prune(db, ledger, tmp_path, NOW) == 5
    assert await _sent(db) == [EPOCH_MS + 40 * DAY_MS]  # only the recent row stays
    # Per recipient, day and category: what the ledger said before, now from the counts.
    assert _by_key(await queries.flows(until_ms=CUTOFF)) == before
    day1 = DAY0 + dt.timedelta(days=1)
    assert before[("hs2.test", DAY0)] == {"items": 4, "message_text": 3, "mention": 1}
    assert before[("hs3.test", day1)] == {"items": 1, "media": 1, "file_name": 1}
    assert before[(RC, DAY0)] == {"items": 2, "message_text": 1, "mention": 1}
    # hs3 joined on the second day; the room's shared history gave it the first day's too.
    assert before[("hs3.test", DAY0)] == {"items": 3, "message_text": 2, "mention": 1}
    hs2 = await queries.server_aggregate("hs2.test")
    assert hs2 is not None
    assert (hs2.items, hs2.first_day, hs2.last_day, hs2.before) == (
        5, DAY0, day1, day1 + dt.timedelta(days=1)
    )  # fmt: skip
    summary = await queries.server_summary("hs2.test")  # the live ledger: the recent row
    assert summary is not None and summary.items == 1


async def test_a_second_pruning_adds_nothing_twice(
    db: Database, ledger: DisclosureLedger, tmp_path: Path
) -> None:
    await _seed(db, ledger)
    await _prune(db, ledger, tmp_path, NOW)
    kept = await _kept(db)
    assert await _prune(db, ledger, tmp_path, NOW) == 0
    assert await _prune(db, ledger, tmp_path, NOW + HOUR_MS) == 0
    assert await _kept(db) == kept


async def test_a_pruning_that_dies_before_commit_changes_neither_table(
    db: Database, ledger: DisclosureLedger
) -> None:
    await _seed(db, ledger)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as uow:
            assert await ledger.prune_older_than(uow, CUTOFF) == 5
            raise RuntimeError("killed before the commit")
    assert len(await _sent(db)) == 6
    assert await _kept(db) == []
    async with db.unit_of_work() as uow:
        assert await ledger.prune_older_than(uow, CUTOFF) == 5
    assert sum(n for *_, n in await _kept(db)) == 5 + 4 + 2  # hs2, hs3, Rocket.Chat


async def test_batches_count_the_same_as_one_pruning(
    db: Database, ledger: DisclosureLedger, tmp_path: Path
) -> None:
    await _seed(db, ledger)
    removed = []
    while True:
        async with db.unit_of_work() as uow:
            removed.append(await ledger.prune_older_than(uow, CUTOFF, limit=2))
        if removed[-1] < 2:
            break
    assert removed == [2, 2, 1]
    batched = await _kept(db)
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    await other.upgrade()
    try:
        await _seed(other, ledger)
        async with other.unit_of_work() as uow:
            assert await ledger.prune_older_than(uow, CUTOFF) == 5
        assert await _kept(other) == batched
    finally:
        await other.close()


async def test_two_prunings_at_once_count_each_item_once(
    db: Database, ledger: DisclosureLedger
) -> None:
    """The second waits on the first's deleted rows (PostgreSQL row locks; SQLite's single
    writer) and gets none of them back, so it adds nothing."""
    await _seed(db, ledger)

    async def second() -> int:
        async with db.unit_of_work() as uow:
            return await ledger.prune_older_than(uow, CUTOFF)

    async with db.unit_of_work() as uow:
        assert await ledger.prune_older_than(uow, CUTOFF) == 5
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)  # let it reach its DELETE while this one holds the rows
        assert not waiting.done()
    assert await waiting == 0
    assert sum(n for *_, n in await _kept(db)) == 11


async def test_the_day_counts_name_no_subject_room_event_or_content(
    db: Database, ledger: DisclosureLedger, tmp_path: Path
) -> None:
    await _seed(db, ledger)
    await _prune(db, ledger, tmp_path, NOW)
    table = LedgerAggregate.__table__
    assert set(table.columns.keys()) == {"server_ref", "day", "categories", "items"}
    assert {fk.column.table.name for fk in table.foreign_keys} == {"ledger_server"}
    rows = await _kept(db)
    assert rows and all(isinstance(v, int) for row in rows for v in row)
    async with db.sessions() as session:
        subjects = int(await session.scalar(select(func.count()).select_from(Disclosure)) or 0)
    assert subjects == 1
    text = repr(rows)
    for named in ("rcAlice", "alice", "@bob", "$ev", "msg", "!room", "!other"):
        assert named not in text


# --- where the day counts show ----------------------------------------------------------


@pytest.fixture
def pruned_config(tmp_path: Path) -> str:
    """A config whose SQLite database holds the seed, pruned at ``NOW``."""
    path = write_config(tmp_path / "config.yaml", privacy={"ledger_retention_days": 30})

    async def seed_and_prune() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}")
        try:
            await db.upgrade()
            ledger = DisclosureLedger(SETTINGS)
            await _seed(db, ledger)
            assert await _prune(db, ledger, tmp_path, NOW) == 5
        finally:
            await db.close()

    asyncio.run(seed_and_prune())
    return str(path)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_audit_server_shows_the_day_counts_under_the_live_ledger(
    pruned_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (DAY0 + dt.timedelta(days=2)).isoformat()
    table = _cli(capsys, "audit", "server", "hs2.test", "-c", pruned_config)
    assert table.splitlines()[-1] == (
        f"before {before}: 5 items per category (message_text=3;media=1;file_name=1;"
        "mention=1) (aggregated, subjects no longer recorded)"
    )
    data = json.loads(_cli(capsys, "audit", "server", "hs2.test", "--format", "json",
                           "-c", pruned_config))  # fmt: skip
    assert data["items"] == 1  # the live ledger's one recent item
    assert data["aggregated"] == {
        "before": before,
        "first_day": DAY0.isoformat(),
        "last_day": (DAY0 + dt.timedelta(days=1)).isoformat(),
        "items": 5,
        "categories": {"message_text": 3, "media": 1, "file_name": 1, "mention": 1},
    }
    out = _cli(capsys, "audit", "server", "hs2.test", "--format", "csv", "-c", pruned_config)
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["items"], row["aggregated_before"], row["aggregated_items"]) == ("1", before, "5")
    # A window that starts after the pruned days leaves them out.
    later = (DAY0 + dt.timedelta(days=20)).isoformat()
    data = json.loads(_cli(capsys, "audit", "server", "hs2.test", "--since", later,
                           "--format", "json", "-c", pruned_config))  # fmt: skip
    assert data["aggregated"] is None


def test_the_records_of_processing_count_the_pruned_items_too(
    pruned_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(_cli(capsys, "audit", "export", "--what", "processing", "--format",
                           "json", "-c", pruned_config))  # fmt: skip
    rows = {r["recipient"]: r for r in data["processing"]}
    assert (rows["hs3.test"]["items"], rows["hs3.test"]["aggregated_items"]) == (1, 4)
    assert rows["hs3.test"]["aggregated_categories"]["media"] == 1
    assert rows[RC]["items"] == 0 and rows[RC]["aggregated_items"] == 2
    # Rocket.Chat got mentions only before the pruning: still a recipient of the category.
    assert any(RC in who for who in data["recipients_by_category"]["mention"])
    until = (DAY0 + dt.timedelta(days=60)).isoformat()  # the seed's days lie ahead of today
    flows = json.loads(_cli(capsys, "audit", "export", "--what", "flows", "--format", "json",
                            "--until", until, "-c", pruned_config))["flows"]  # fmt: skip
    first = {(f["recipient"], f["day"]): f["items"] for f in flows}
    assert first[("hs2.test", DAY0.isoformat())] == 4
    assert first[(RC, DAY0.isoformat())] == 2
