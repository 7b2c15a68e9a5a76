"""What the stores remember (bridge.storage.cache): a unit of work reads each portal,
shadow, opt-out and subject once and sees its own writes; nothing another writer can
change outlives the transaction; the ledger's immutable ids outlive it once committed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bridge.storage.bridging import Shadow
from bridge.storage.commands import PersonName
from bridge.storage.database import Database

ALICE = "@alice:hs2.test"


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_a_unit_of_work_reads_each_value_once_and_sees_its_own_writes(
    db: Database,
) -> None:
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("GENERAL", "c", "!room:hs1.test", "general")
        with statements(db) as seen:
            for _ in range(3):
                assert await uow.bridging.portal_by_matrix("!room:hs1.test") == portal
                assert await uow.bridging.shadow(ALICE) is None
                assert not await uow.commands.opted_out(PersonName(ALICE))
                assert await uow.ledger.find_subject(matrix_user_id=ALICE) == []
        assert len(seen) == 4, seen
        await uow.bridging.set_portal_active(portal.id, False)
        await uow.bridging.save_shadow(Shadow(ALICE, "rc-alice", "alice.hs2", None, None))
        assert await uow.commands.set_opt_out(PersonName(ALICE), True)
        subject = await uow.ledger.create_subject(1, matrix_user_id=ALICE)
        changed = await uow.bridging.portal_by_matrix("!room:hs1.test")
        assert changed is not None and not changed.active
        assert (await uow.bridging.shadow(ALICE) or Shadow("", "", "", "", "")).rc_user_id == (
            "rc-alice"
        )
        assert (await uow.bridging.shadow_by_rc("rc-alice")) is not None
        assert await uow.commands.opted_out(PersonName(ALICE))
        assert [s.id for s in await uow.ledger.find_subject(matrix_user_id=ALICE)] == [subject]


async def test_nothing_another_writer_can_change_outlives_the_unit_of_work(
    db: Database,
) -> None:
    """Another process (here a second pool on the same database) changes a portal and a
    shadow: the next unit of work sees it."""
    other = Database(db.url, encryption_key="k" * 64)
    try:
        async with db.unit_of_work() as uow:
            portal = await uow.bridging.add_portal("GENERAL", "c", "!room:hs1.test", "general")
            assert await uow.bridging.shadow(ALICE) is None
        async with other.unit_of_work() as uow:
            await uow.bridging.set_portal_active(portal.id, False)
            await uow.bridging.save_shadow(Shadow(ALICE, "rc-alice", "alice.hs2", None, None))
        async with db.unit_of_work() as uow:
            seen = await uow.bridging.portal_by_matrix("!room:hs1.test")
            assert seen is not None and not seen.active
            assert await uow.bridging.shadow(ALICE) is not None
    finally:
        await other.close()


async def test_forgetting_a_person_drops_what_the_unit_of_work_had_read(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.bridging.upsert_ghost("rc-bob", "bob", "@rc_bob:hs1.test")
    async with db.unit_of_work() as uow:
        assert await uow.bridging.ghost("rc-bob") is not None
        await uow.forget.bridging("rc-bob", None, ["rc-bob"], ["bob"], "pseudonym")
        assert await uow.bridging.ghost("rc-bob") is None


async def test_ledger_ids_are_learnt_for_the_process_only_once_committed(db: Database) -> None:
    class Abort(Exception):
        pass

    try:
        async with db.unit_of_work() as uow:
            await uow.ledger.server_ref("hs9.test", 2)
            raise Abort
    except Abort:
        pass
    assert db.refs.servers == {}, "an id from a rolled-back insert must not be served"
    async with db.unit_of_work() as uow:
        server = await uow.ledger.server_ref("hs2.test", 2)
        room = await uow.ledger.room_ref("!room:hs1.test", rc_server_ref=server)
    with statements(db) as seen:
        async with db.unit_of_work() as uow:
            assert await uow.ledger.server_ref("hs2.test", 2) == server
            assert await uow.ledger.room_ref("!room:hs1.test", rc_server_ref=server) == room
            assert await uow.ledger.room_ref("!room:hs1.test") == room
    assert seen == []


async def test_a_shredded_pseudonym_key_is_not_served_from_the_unit_of_work(
    db: Database,
) -> None:
    """A person's key is read once per unit of work, but the shred that deletes it drops
    what was read: nothing can reproduce the pseudonym after it."""
    async with db.unit_of_work() as uow:
        key = await uow.person_keys.key("rcAlice", create=True)
        assert key is not None
    with statements(db) as seen:
        async with db.unit_of_work() as uow:
            assert await uow.person_keys.key("rcAlice") == key
            assert await uow.person_keys.key("rcAlice") == key
            assert len([s for s in seen if "pseudonym_key" in s]) == 1
            await uow.person_keys.schedule_shred(["rcAlice"], 1)
            assert await uow.person_keys.shred_due(2) == 1
            assert await uow.person_keys.key("rcAlice") is None
