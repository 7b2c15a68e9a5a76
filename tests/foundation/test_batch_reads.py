"""Reads a batch shares: the subjects of a batch of finished sends in one statement, and
the outbox's due actions claimed in the statement that finds them (PostgreSQL)."""

from __future__ import annotations

from bridge.ids import RCUserID, RCUsername, UserID
from bridge.privacy.categories import Origin
from bridge.privacy.subjects import MatrixPerson, RCPerson, subject_ref
from bridge.storage.database import Database
from bridge.storage.outbox import NewAction
from tests.foundation.test_write_buffer import statements


async def test_subjects_read_together_are_found_without_another_statement(db: Database) -> None:
    async with db.unit_of_work() as uow:
        alice = await uow.ledger.create_subject(Origin.MATRIX, matrix_user_id="@alice:hs1.test")
        carol = await uow.ledger.create_subject(Origin.ROCKETCHAT, rc_user_id="rc-carol")
    async with db.unit_of_work() as uow:
        with statements(db) as seen:
            await uow.ledger.read_subjects(["@alice:hs1.test", "@new:hs1.test"], ["rc-carol"])
            assert len(seen) == 1, seen
            assert await subject_ref(uow.ledger, MatrixPerson(UserID("@alice:hs1.test"))) == alice
            assert await subject_ref(uow.ledger, RCPerson(RCUserID("rc-carol"), None)) == carol
            assert len(seen) == 1, seen  # both served from what the one read found
        # Someone the read did not find is created, and found after that (the write
        # dropped what the read had remembered of them).
        new = await subject_ref(uow.ledger, MatrixPerson(UserID("@new:hs1.test")))
        assert new not in (alice, carol)
        assert await subject_ref(uow.ledger, MatrixPerson(UserID("@new:hs1.test"))) == new
        # A username change is still written for a prefetched person.
        carol_renamed = RCPerson(RCUserID("rc-carol"), RCUsername("carol2"))
        assert await subject_ref(uow.ledger, carol_renamed) == carol
    async with db.unit_of_work() as uow:
        (found,) = await uow.ledger.find_subject(rc_user_id="rc-carol")
        assert found.rc_username == "carol2"


async def test_due_actions_are_the_queue_heads_in_order_and_claimed_once(db: Database) -> None:
    async with db.unit_of_work() as uow:
        for key, queue in (("a1", "qa"), ("b1", "qb"), ("a2", "qa"), ("c1", "qc")):
            await uow.enqueue(NewAction(key, "noop", queue))
    with statements(db) as seen:
        due = await db.outbox.due(10)
    assert [a.key for a in due] == ["a1", "b1", "c1"]  # heads only, oldest first
    work = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert len(work) == 1, seen
    if db.url.startswith("postgresql"):
        # Claimed for the lease: another worker finds nothing until it runs out.
        assert await db.outbox.due(10) == []
    else:
        # One worker on SQLite: nothing is claimed.
        assert [a.key for a in await db.outbox.due(10)] == ["a1", "b1", "c1"]
