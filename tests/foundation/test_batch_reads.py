"""Reads a batch shares: the subjects of a batch of finished sends in one statement, and
the outbox's due actions claimed in the statement that finds them (PostgreSQL)."""

from __future__ import annotations

from mautrix.types import Event

from bridge.bridging.batch_reads import matrix_senders
from bridge.ids import RCUserID, RCUsername, UserID
from bridge.privacy.categories import Origin
from bridge.privacy.pseudonyms import person_name
from bridge.privacy.subjects import MatrixPerson, RCPerson, subject_ref
from bridge.storage.bridging import Shadow
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


async def test_an_inbox_batch_reads_its_senders_together(db: Database) -> None:
    """The people of a batch (keys, opt-outs, notices, shadows) in one statement each;
    the relay's own lookups are then served without another statement, and nobody
    without a key is given one by the prefetch."""
    senders = [f"@user{n}:hs2.test" for n in range(5)]
    async with db.unit_of_work() as uow:
        for n, sender in enumerate(senders[:4]):
            name = await person_name(uow, f"matrix:{sender}")  # makes the key
            if n == 0:
                await uow.commands.set_opt_out(name, True)
            if n == 1:
                assert await uow.commands.mark_notice_shown(name)
            if n == 2:
                await uow.bridging.save_shadow(Shadow(sender, "rc-2", "user2", None, None))
    events = [_message(sender) for sender in senders]
    async with db.unit_of_work() as uow:
        with statements(db) as seen:
            await matrix_senders(uow, events)
            reads = len(seen)
            assert reads == 4, seen  # keys, opt-outs, notices, shadows
            answers = []
            for sender in senders[:4]:
                name = await person_name(uow, f"matrix:{sender}")
                answers.append(
                    (
                        await uow.commands.opted_out(name),
                        await uow.commands.notice_shown_at(name) is not None,
                        await uow.bridging.shadow(sender) is not None,
                    )
                )
            assert len(seen) == reads, seen[reads:]  # all served from the batch's reads
        assert answers == [
            (True, False, False),
            (False, True, False),
            (False, False, True),
            (False, False, False),
        ]
        assert await uow.person_keys.key(senders[4]) is None  # not made by the prefetch


def _message(sender: str) -> Event:
    return Event.deserialize(
        {
            "type": "m.room.message",
            "room_id": "!room:hs1.test",
            "event_id": f"$event-{sender}",
            "sender": sender,
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "hello"},
        }
    )
