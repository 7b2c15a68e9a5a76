"""Crypto-shredding: each person's pseudonym is keyed with a key of their own, and the
shred job destroys it once their erasure's grace has passed, on a clock the test sets.

The erasure runs through the engine and the outbox worker with executors that succeed at
once (no homeservers), on each database backend."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bridge.cli.main import main
from bridge.config import Config, ConfigError, load_config
from bridge.config.model import PrivacyConfig
from bridge.ids import RCRoomID, RoomID
from bridge.metrics import REGISTRY
from bridge.pipeline.actions import KINDS, Run, executor
from bridge.privacy import audit, pseudonyms
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy.audit import AuditLog, canonical, chain_hash
from bridge.privacy.erasure import DAY_MS, ErasureEngine, erasure_settings
from bridge.privacy.erasure_hooks import ErasureRecords, observed
from bridge.privacy.erasure_model import Requester, RequesterSide
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.queries import LedgerQueries
from bridge.storage.audit import AuditRecord
from bridge.storage.commands_rows import OptOutRow
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.ledger_rows import LedgerSubject
from bridge.storage.pseudonym_keys import PseudonymKeyRow, lookup_of
from bridge.storage.schema import upgrade
from bridge.workers.housekeeping import housekeeping
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, ROOM, member, message
from tests.privacy.shredding import keys_on_machine, reproduced, stored_values

GRACE_DAYS = 30
MINUTE_MS = 60_000
# Alice's ids: her Rocket.Chat user id and username (she has no ghost in these tests).
ALICE_IDS = ["rcAlice", "alice"]


@dataclasses.dataclass
class World:
    config: Config
    db: Database
    engine: ErasureEngine
    ledger: DisclosureLedger


@pytest_asyncio.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    path = write_config(
        tmp_path / "config.yaml",
        database={"url": db_url},
        privacy={"pseudonym_retention_days": GRACE_DAYS},
    )
    config = load_config(path)
    db = Database.from_config(config)
    await db.upgrade()
    settings = erasure_settings(config)
    world = World(config, db, ErasureEngine(db, settings), DisclosureLedger(settings.ledger))
    yield world
    await db.close()


async def _name(db: Database, account_id: str) -> str:
    async with db.unit_of_work() as uow:
        return await pseudonyms.of(uow, account_id)


async def _key_rows(db: Database) -> list[tuple[str, int | None]]:
    async with db.sessions() as session:
        rows = await session.execute(select(PseudonymKeyRow.lookup, PseudonymKeyRow.shred_after_ms))
        return [(r.lookup, r.shred_after_ms) for r in rows]


async def _ok(action: Run[Any]) -> dict[str, Any]:
    if action.kind == kinds.NOTICE:
        return {"contacts": [], "reason": "no contact published"}
    return {"redaction_id": "$redaction"} if action.kind == kinds.REDACT else {}


async def _erase_alice(w: World) -> int:
    """Alice writes twice, opts out, is refused a command, and erases herself; returns
    when her request finished."""
    async with w.db.unit_of_work() as uow:
        await uow.bridging.add_portal("rcroom", "c", ROOM, "room")
        await w.ledger.bind_room(uow, RoomID(ROOM), RCRoomID("rcroom"))
        await uow.commands.set_opt_out(
            await pseudonyms.person_name(uow, "rocketchat:rcAlice"), True
        )
        await AuditLog.append(uow, audit.COMMAND_REFUSED, "rocketchat:rcAlice", None, {})
    start = now_ms()
    await member(w.db, w.ledger, "@bob:hs2.test", "join", start)
    await message(w.db, w.ledger, ALICE, start + 1)
    await message(w.db, w.ledger, ALICE, start + 2)
    rid = await w.engine.request(
        "rcAlice", Requester("rcAlice", RequesterSide.ROCKETCHAT), verified=True
    )
    executors = {k: executor(KINDS[k], _ok) for k in kinds.ALL}
    worker = OutboxWorker(w.db, observed(w.db, executors), on_done=ErasureRecords().table())
    for _ in range(60):
        await w.engine.step()
        await worker.drain_once()
        status = await w.engine.status(rid)
        if status.state.finished:
            assert status.finished_ms is not None
            return status.finished_ms
    raise AssertionError("the erasure did not finish")


def _last_run(job: str) -> float | None:
    value = REGISTRY.get_sample_value("bridge_prune_last_run_timestamp_seconds", {"job": job})
    return None if value is None else float(value)


async def test_one_person_one_pseudonym_unlike_anyone_elses_the_old_one_and_the_lookup(
    world: World,
) -> None:
    db, hash_key = world.db, world.config.privacy.hash_key.encode()
    alice = await _name(db, "rcAlice")
    assert await _name(db, "rcAlice") == alice, "stable for one person"
    assert pseudonyms.is_audit_name(alice)
    assert await _name(db, "@bob:hs2.test") != alice, "another person, another pseudonym"
    assert alice != pseudonyms.legacy_name(hash_key, "rcAlice"), "not keyed with hash_key"
    lookup = lookup_of(hash_key, "rcAlice")
    assert alice.removeprefix(pseudonyms.PREFIX) != lookup
    assert {r[0] for r in await _key_rows(db)} == {lookup, lookup_of(hash_key, "@bob:hs2.test")}
    async with db.sessions() as session:
        sealed = list(await session.scalars(select(PseudonymKeyRow.sealed_key)))
    assert all(s.startswith("sealed:v1:") for s in sealed), "keys are sealed at rest"
    # No single key on the machine but her own reproduces her pseudonym from her id.
    keys = await keys_on_machine(db, world.config)
    makers = [k for k in keys if alice.removeprefix("pseudonym:") in reproduced([k], ALICE_IDS)]
    assert len(makers) == 1 and makers[0] not in (hash_key, b"")


async def test_a_new_person_named_at_once_by_many_transactions_gets_one_key(
    world: World,
) -> None:
    names = await asyncio.gather(*(_name(world.db, "@carol:hs3.test") for _ in range(6)))
    assert len(set(names)) == 1
    assert len(await _key_rows(world.db)) == 1


async def test_the_shred_job_destroys_the_key_only_after_the_grace(world: World) -> None:
    db = world.db
    before = await _name(db, "rcAlice")
    assert [s for _, s in await _key_rows(db)] == [None], "kept while nothing ends it"
    finished = await _erase_alice(world)
    due = finished + GRACE_DAYS * DAY_MS
    assert {s for _, s in await _key_rows(db)} == {due}, "her ids' keys wait for the grace"
    jobs = housekeeping(world.config, db, world.engine, world.ledger)
    assert (await jobs.run_once(due - MINUTE_MS))["shred"] == 0
    assert _last_run("shred") == (due - MINUTE_MS) / 1000
    assert await pseudonyms.existing_in(db, "rcAlice") == before
    # Within the grace an officer given her id still finds her erased subject.
    assert (await LedgerQueries(db).find_subject("rcAlice", erased_too=True)).erased_ms

    removed = await jobs.run_once(due + MINUTE_MS)
    assert removed["shred"] == len(ALICE_IDS)
    assert _last_run("shred") == (due + MINUTE_MS) / 1000
    assert await _key_rows(db) == []
    assert await pseudonyms.existing_in(db, "rcAlice") is None
    # On record by role and count, never by whom; the chain still verifies.
    entry = (await AuditLog(db).newest(kind=audit.KEYS_SHREDDED))[0]
    assert (entry.actor, entry.subject_ref, dict(entry.details)) == (
        "bridge",
        None,
        {"keys": len(ALICE_IDS)},
    )
    assert (await AuditLog(db).verify()).ok
    # The same id seen again is a new person to the bridge: a new, unlinked pseudonym.
    again = await _name(db, "rcAlice")
    assert again != before
    assert [s for _, s in await _key_rows(db)] == [None]


async def test_after_shredding_no_stored_key_reproduces_her_pseudonyms(world: World) -> None:
    db, config = world.db, world.config
    await _erase_alice(world)
    held = await stored_values(db)
    mine = reproduced(await keys_on_machine(db, config), ALICE_IDS) & held
    name = (await pseudonyms.existing_in(db, "rcAlice") or "").removeprefix("pseudonym:")
    # Before: her own key reproduces the pseudonym the records name her by.
    assert name in mine
    async with db.sessions() as session:
        subject = await session.scalar(select(LedgerSubject).where(LedgerSubject.erased_ms > 0))
        actors = [e.actor for e in await AuditLog(db).newest(limit=100)]
    assert subject is not None and subject.pseudonym == bytes.fromhex(name), "the ledger"
    assert f"pseudonym:{name}" in actors, "the audit log"
    request = (await world.engine.requests(["done", "partially_done"], 10))[0]
    assert request.pseudonym == name, "the request log"

    jobs = housekeeping(config, db, world.engine, world.ledger)
    assert (await jobs.run_once(now_ms() + (GRACE_DAYS + 1) * DAY_MS))["shred"] > 0
    held = await stored_values(db)
    assert name in held, "the records still name her, as evidence"
    keys = await keys_on_machine(db, config)
    assert len(keys) >= 2, "the config's keys are still there"
    assert reproduced(keys, ALICE_IDS) & held == set(), "no key links her to any of it"
    assert (await AuditLog(db).verify()).ok


async def test_no_file_of_the_sqlite_database_holds_a_shredded_key(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = write_config(
        tmp_path / "config.yaml",
        database={"url": f"sqlite+aiosqlite:///{folder / 'bridge.db'}"},
    )
    config = load_config(path)
    db = Database.from_config(config)
    try:
        await db.upgrade()
        await _name(db, "rcAlice")
        async with db.sessions() as session:
            sealed = str(await session.scalar(select(PseudonymKeyRow.sealed_key)))
        assert any(sealed.encode() in f.read_bytes() for f in folder.iterdir())
        async with db.unit_of_work() as uow:
            await uow.person_keys.schedule_shred(["rcAlice"], 1)
        settings = erasure_settings(config)
        jobs = housekeeping(
            config, db, ErasureEngine(db, settings), DisclosureLedger(settings.ledger)
        )
        assert (await jobs.run_once())["shred"] == 1
        async with db.sessions() as session:
            assert await session.scalar(select(func.count(PseudonymKeyRow.lookup))) == 0
        assert [f.name for f in folder.iterdir() if sealed.encode() in f.read_bytes()] == []
    finally:
        await db.close()


@pytest.mark.parametrize("days", [0, -1])
def test_a_grace_below_one_day_is_refused(tmp_path: Path, days: int) -> None:
    path = write_config(tmp_path / "config.yaml", privacy={"pseudonym_retention_days": days})
    with pytest.raises(ConfigError, match="privacy.pseudonym_retention_days"):
        load_config(path)


def test_the_default_grace_is_ninety_days(tmp_path: Path) -> None:
    assert PrivacyConfig.pseudonym_retention_days == 90
    config = load_config(write_config(tmp_path / "config.yaml", privacy={"mode": "self-service"}))
    assert erasure_settings(config).pseudonym_retention_ms == 90 * DAY_MS


async def _append_as_an_older_version(db: Database, actor: str) -> None:
    """An audit entry as versions before per-person keys wrote it (actor given as is)."""
    async with db.unit_of_work() as uow:
        seq, prev = await uow.audit.lock_head()
        at, kind = now_ms(), audit.COMMAND_REFUSED
        digest = chain_hash(prev, canonical(seq + 1, at, kind, actor, None, {}))
        await uow.audit.insert(AuditRecord(seq + 1, at, kind, actor, None, "{}", prev, digest))
        await uow.audit.set_head(seq + 1, digest)


async def test_an_older_deployment_upgrades_with_its_chain_and_opt_outs_intact(
    db_url: str, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "config.yaml", database={"url": db_url})
    config = load_config(path)
    hash_key = config.privacy.hash_key.encode()
    db = Database.from_config(config)
    try:
        await upgrade(db.engine, "0018")  # the schema before per-person keys
        earlier = pseudonyms.legacy_name(hash_key, "rcAlice")
        await _append_as_an_older_version(db, earlier)
        async with db.sessions.begin() as session:
            session.add(OptOutRow(person=earlier, since_ms=5))
        await db.upgrade()
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, audit.COMMAND_REFUSED, "rocketchat:rcAlice", None, {})
            alice = await pseudonyms.person_name(uow, "rocketchat:rcAlice")
            assert await uow.commands.opted_out_since(alice) == 5, "still holds"
        actors = [e.actor for e in await AuditLog(db).newest()]
        now = await pseudonyms.existing_in(db, "rcAlice")
        # The old entry keeps its name (the chain is never rewritten); new ones use hers.
        assert actors == [now, earlier] and now != earlier
        assert (await AuditLog(db).verify()).ok
    finally:
        await db.close()


def test_run_refuses_a_storage_key_that_does_not_open_the_pseudonym_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every action naming a person would fail: the bridge says so once, at start."""
    path = write_config(tmp_path / "config.yaml")
    config = load_config(path)
    assert main(["db", "upgrade", "-c", str(path)]) == 0

    async def name_with_another_storage_key() -> None:
        other = dataclasses.replace(
            config.storage, encryption_key="another-storage-key-0123456789abcdef"
        )
        db = Database.from_config(dataclasses.replace(config, storage=other))
        try:
            await _name(db, "rcAlice")
        finally:
            await db.close()

    asyncio.run(name_with_another_storage_key())
    capsys.readouterr()
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "config error: a pseudonym key does not open with storage.encryption_key (was it changed?)"
    )
