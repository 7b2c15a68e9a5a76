"""The audit log's hash chain: appends, verification, tampering, concurrency, rollback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.privacy import audit
from bridge.privacy.audit import GENESIS, AuditError, AuditLog, canonical, chain_hash
from bridge.privacy.pseudonyms import existing_in
from bridge.storage.database import Database
from tests.fixtures.databases import TEST_PSEUDONYM_KEY


async def append_n(db: Database, n: int) -> None:
    for i in range(n):
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, audit.SUBJECT_LOOKUP, "web:token", i, {"n": i})


async def sql(db: Database, statement: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(statement))


async def test_an_empty_log_verifies_at_the_genesis_hash(db: Database) -> None:
    result = await AuditLog(db).verify()
    assert result.ok and result.entries == 0 and result.head_hash == GENESIS


async def test_entries_chain_from_genesis_with_the_documented_hash(db: Database) -> None:
    async with db.unit_of_work() as uow:
        first = await AuditLog.append(
            uow, audit.REQUEST_APPROVED, "@officer:hs1.test", 7, {"request_id": "er-1"}
        )
    assert first.seq == 1 and first.prev_hash == GENESIS
    officer = await existing_in(db, "@officer:hs1.test")
    assert officer is not None and first.actor == officer, "a person is written by pseudonym"
    expected = chain_hash(
        GENESIS,
        canonical(1, first.at_ms, "request.approved", officer, 7, {"request_id": "er-1"}),
    )
    assert first.hash == expected
    async with db.unit_of_work() as uow:
        second = await AuditLog.append(uow, audit.EXPORT_PRODUCED, "cli:root", None, {})
    assert second.seq == 2 and second.prev_hash == first.hash
    result = await AuditLog(db).verify()
    assert result.ok and result.entries == 2 and result.head_hash == second.hash


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "'someone else'"),
        ("details", '\'{"n": 99, "x": 1}\''),
        ("kind", "'export.produced'"),
        ("at_ms", "1"),
        ("subject_ref", "NULL"),
        ("hash", "'" + "0" * 64 + "'"),
        ("prev_hash", "'" + "1" * 64 + "'"),
    ],
)
async def test_changing_any_column_of_one_row_names_that_row(
    db: Database, column: str, value: str
) -> None:
    await append_n(db, 5)
    await sql(db, f"UPDATE audit_entry SET {column} = {value} WHERE seq = 3")
    result = await AuditLog(db).verify()
    assert result.fault is not None
    assert result.fault.seq == 3
    assert result.entries == 2


async def test_a_deleted_entry_is_reported_missing(db: Database) -> None:
    await append_n(db, 4)
    await sql(db, "DELETE FROM audit_entry WHERE seq = 2")
    result = await AuditLog(db).verify()
    assert result.fault is not None and result.fault.seq == 2 and result.fault.kind is None
    assert "missing" in result.fault.reason


async def test_entries_cut_off_the_end_are_noticed_through_the_head(db: Database) -> None:
    await append_n(db, 4)
    await sql(db, "DELETE FROM audit_entry WHERE seq = 4")
    result = await AuditLog(db).verify()
    assert result.fault is not None and result.fault.seq == 4
    assert "removed from the end" in result.fault.reason


async def test_an_entry_rolls_back_with_the_action_it_records(db: Database) -> None:
    await append_n(db, 1)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, audit.REQUEST_DENIED, "web:token", 1, {})
            raise Boom
    entries = await AuditLog(db).newest()
    assert [e.seq for e in entries] == [1]
    assert (await AuditLog(db).verify()).ok
    await append_n(db, 1)
    assert [e.seq for e in await AuditLog(db).newest()] == [2, 1]


async def test_concurrent_writers_still_form_one_chain(db: Database) -> None:
    log = AuditLog(db)

    async def writer(n: int) -> None:
        for i in range(5):
            await log.record(audit.SUBJECT_LOOKUP, f"writer-{n}", None, {"i": i})

    await asyncio.gather(*(writer(n) for n in range(6)))
    result = await log.verify()
    assert result.ok, result.fault
    assert result.entries == 30
    assert sorted(e.seq for e in await log.newest(limit=100)) == list(range(1, 31))


@pytest.mark.parametrize(
    "details",
    [
        {"body": "hello"},
        {"nested": {"content": "x"}},
        {"ratio": 0.5},
        {"blob": b"x"},
        {"s": "x" * 5000},
    ],
)
async def test_details_that_could_hold_content_are_refused(
    db: Database, details: dict[str, object]
) -> None:
    with pytest.raises(AuditError):
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, audit.NOTICE_SENT, "engine", None, details)
    assert (await AuditLog(db).verify()).entries == 0


async def test_kinds_must_be_noun_dot_verb(db: Database) -> None:
    with pytest.raises(AuditError):
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, "Approved", "engine", None, {})


async def test_newest_filters_by_kind_and_subject(db: Database) -> None:
    log = AuditLog(db)
    await log.record(audit.SUBJECT_LOOKUP, "a", 1, {})
    await log.record(audit.EXPORT_PRODUCED, "a", None, {})
    await log.record(audit.SUBJECT_LOOKUP, "a", 2, {})
    assert [e.seq for e in await log.newest(kind=audit.SUBJECT_LOOKUP)] == [3, 1]
    assert [e.seq for e in await log.newest(subject_ref=2)] == [3]
    assert [e.seq for e in await log.newest(before_seq=3, limit=1)] == [2]


@pytest.mark.parametrize(
    ("actor", "written"),
    [
        ("@alice:hs1.test", "person"),
        ("matrix:@alice:hs1.test", "person"),
        ("ZkR7cQ2mWx9aB4nTp", "person"),  # a Rocket.Chat user id
        ("rocketchat:ZkR7cQ2mWx9aB4nTp", "person"),
        ("jane", "person"),  # an officer's name typed for --requester
        ("moderator:@mod:hs1.test", "moderator"),
        ("bridge", "as is"),
        ("cli", "as is"),
        ("cli:root", "as is"),
        ("web:admin-token", "as is"),
        ("api:admin-token", "as is"),
        ("policy:self-service", "as is"),
    ],
)
async def test_people_are_written_by_pseudonym_roles_as_they_are(
    db: Database, actor: str, written: str
) -> None:
    async with db.unit_of_work() as uow:
        entry = await AuditLog.append(uow, audit.COMMAND_REFUSED, actor, None, {})
    async with db.engine.begin() as conn:
        stored = (await conn.execute(text("SELECT actor FROM audit_entry"))).scalar_one()
    assert stored == entry.actor
    bare = actor.removeprefix("matrix:").removeprefix("rocketchat:")
    if written == "person":
        assert stored == await existing_in(db, bare)
        assert stored.startswith("pseudonym:") and bare not in stored
    elif written == "moderator":
        assert stored == "moderator:" + str(await existing_in(db, "@mod:hs1.test"))
    else:
        assert stored == actor
    assert (await AuditLog(db).verify()).ok


async def test_a_person_is_never_written_without_the_pseudonym_key(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nokey.db'}")
    await db.upgrade()
    try:
        with pytest.raises(AuditError, match="hash_key"):
            async with db.unit_of_work() as uow:
                await AuditLog.append(uow, audit.COMMAND_REFUSED, "@alice:hs1.test", None, {})
        async with db.unit_of_work() as uow:
            await AuditLog.append(uow, audit.COMMAND_REFUSED, "web:admin-token", None, {})
        assert (await AuditLog(db).newest())[0].actor == "web:admin-token"
    finally:
        await db.close()


async def test_a_person_is_never_written_without_the_storage_key(tmp_path: Path) -> None:
    """The person's own key is sealed with storage.encryption_key: without it none is made."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'nostoragekey.db'}"
    db = Database(url, pseudonym_key=TEST_PSEUDONYM_KEY)
    await db.upgrade()
    try:
        with pytest.raises(AuditError, match="encryption_key"):
            async with db.unit_of_work() as uow:
                await AuditLog.append(uow, audit.COMMAND_REFUSED, "@alice:hs1.test", None, {})
        assert await AuditLog(db).newest() == []
    finally:
        await db.close()
