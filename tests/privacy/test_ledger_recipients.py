"""Recording disclosures and asking who received them, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest

from bridge.ids import EventID, RoomID, UserID
from bridge.privacy.categories import Category, Origin, RecipientKind
from bridge.privacy.ledger import DisclosureLedger, ProfileChange, SeedMember
from bridge.privacy.queries import LedgerQueries
from bridge.privacy.timeline import RoomTimeline, Visibility
from bridge.storage.database import Database
from tests.privacy.helpers import (
    ALICE,
    BOB,
    BOT,
    GHOST_ALICE,
    OTHER_ROOM,
    ROOM,
    SETTINGS,
    member,
    message,
    visibility,
)


@pytest.fixture
def ledger() -> DisclosureLedger:
    return DisclosureLedger(SETTINGS)


async def recipients(db: Database, identifier: str) -> dict[str, int]:
    queries = LedgerQueries(db)
    report = await queries.recipients_of_subject(await queries.find_subject(identifier))
    return {r.recipient: r.items for r in report.recipients}


async def test_servers_in_the_room_and_later_joiners_under_shared_history(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await member(db, ledger, "@bob:hs2.test", "join", 20)
    await message(db, ledger, ALICE, 100)
    await member(db, ledger, "@carol:hs3.test", "join", 200)  # joins later, history shared
    assert await recipients(db, "rcAlice") == {"hs1.test": 1, "hs2.test": 1, "hs3.test": 1}


async def test_a_server_joining_later_under_joined_history_is_no_recipient(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await visibility(db, ledger, "joined", 15)
    await message(db, ledger, ALICE, 100)
    await member(db, ledger, "@carol:hs3.test", "join", 200)
    await message(db, ledger, ALICE, 300)
    assert await recipients(db, "alice") == {"hs1.test": 2, "hs3.test": 1}


async def test_invited_history_counts_from_the_invite(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await visibility(db, ledger, "invited", 15)
    await message(db, ledger, ALICE, 50)
    await member(db, ledger, "@carol:hs3.test", "invite", 100)
    await message(db, ledger, ALICE, 150)
    await member(db, ledger, "@carol:hs3.test", "join", 200)
    assert await recipients(db, "alice") == {"hs1.test": 2, "hs3.test": 1}


async def test_a_server_that_left_stays_a_recipient_of_what_it_had(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await member(db, ledger, "@bob:hs2.test", "join", 20)
    await member(db, ledger, "@bob2:hs2.test", "join", 25)
    await message(db, ledger, ALICE, 100)
    await member(db, ledger, "@bob:hs2.test", "leave", 150)
    await message(db, ledger, ALICE, 170)  # hs2 still has bob2
    await member(db, ledger, "@bob2:hs2.test", "leave", 200)
    await message(db, ledger, ALICE, 300)
    assert await recipients(db, "alice") == {"hs1.test": 3, "hs2.test": 2}


async def test_a_profile_change_reaches_every_server_of_every_room_of_the_ghost(
    db: Database, ledger: DisclosureLedger
) -> None:
    for room, server in ((ROOM, "hs2.test"), (OTHER_ROOM, "hs3.test")):
        await member(db, ledger, GHOST_ALICE, "join", 10, room)
        await member(db, ledger, f"@someone:{server}", "join", 20, room)
    async with db.unit_of_work() as uow:
        await ledger.link(uow, Origin.ROCKETCHAT, GHOST_ALICE, ALICE.user_id, ALICE.username)
        rows = await ledger.record_profile(
            uow,
            ProfileChange(
                subject=ALICE,
                origin=Origin.ROCKETCHAT,
                categories=Category.DISPLAY_NAME,
                sent_ms=100,
                rooms={ROOM: EventID("$m1"), OTHER_ROOM: None},
                content="Alice A.",
            ),
        )
    assert rows == 2
    queries = LedgerQueries(db)
    subject = await queries.find_subject(GHOST_ALICE)  # the ghost resolves to Alice
    report = await queries.recipients_of_subject(subject)
    by_server = {r.recipient: r for r in report.recipients}
    assert set(by_server) == {"hs1.test", "hs2.test", "hs3.test"}
    assert by_server["hs1.test"].kind is RecipientKind.LOCAL_HOMESERVER
    assert by_server["hs1.test"].items == 2
    assert [c.category for c in by_server["hs3.test"].categories] == [Category.DISPLAY_NAME]


async def test_matrix_origin_items_list_the_rocketchat_as_recipient(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await member(db, ledger, BOB.user_id, "join", 20)
    await message(db, ledger, BOB, 100, origin=Origin.MATRIX)
    await message(db, ledger, ALICE, 110)
    report = await LedgerQueries(db).recipients_of_subject(
        await LedgerQueries(db).find_subject(BOB.user_id)
    )
    kinds = {r.recipient: r.kind for r in report.recipients}
    assert kinds == {
        "hs1.test": RecipientKind.LOCAL_HOMESERVER,
        "hs2.test": RecipientKind.REMOTE_HOMESERVER,
        "rocketchat:chat.test": RecipientKind.ROCKETCHAT,
    }
    assert "rocketchat:chat.test" not in await recipients(db, "rcAlice")


async def test_a_mentioned_person_is_a_subject_of_the_message(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 10)
    await member(db, ledger, BOB.user_id, "join", 20)
    rows = await message(db, ledger, ALICE, 100, mentions=(BOB, ALICE, BOB))
    assert rows == 2  # the author's row and one for Bob; self and repeats collapse
    report = await LedgerQueries(db).recipients_of_subject(
        await LedgerQueries(db).find_subject(BOB.user_id)
    )
    assert {r.recipient for r in report.recipients} == {"hs1.test", "hs2.test"}
    assert report.recipients[0].categories[0].category is Category.MENTION


async def test_seeding_counts_servers_that_left_and_runs_once(
    db: Database, ledger: DisclosureLedger
) -> None:
    members = [
        SeedMember(BOT, "join", 5),
        SeedMember(UserID("@gone:hs4.test"), "leave", 500),
        SeedMember(UserID("@inv:hs5.test"), "invite", 50),
    ]
    async with db.unit_of_work() as uow:
        assert await ledger.seed_room(uow, ROOM, members=members, visibility="joined")
    async with db.unit_of_work() as uow:
        assert not await ledger.seed_room(uow, ROOM, members=[], visibility="shared")
    await message(db, ledger, ALICE, 400)
    await message(db, ledger, ALICE, 600)
    # hs5 was only invited: it receives nothing until one of its users joins.
    assert await recipients(db, "alice") == {"hs1.test": 2, "hs4.test": 1}


async def test_storage_timelines_agree_with_the_in_memory_model(
    db: Database, ledger: DisclosureLedger
) -> None:
    rng = random.Random(6)
    users = [f"@u{i}:s{i % 3}.test" for i in range(5)]
    for run in range(6):
        room = RoomID(f"!r{run}:hs1.test")
        model = RoomTimeline()
        at = 0
        for _ in range(12):
            at += rng.randint(0, 3)
            if rng.random() < 0.2:
                vis = rng.choice(["shared", "joined", "invited", "world_readable"])
                model.observe_visibility(Visibility.parse(vis), at)
                await visibility(db, ledger, vis, at, room)
            else:
                user, membership = rng.choice(users), rng.choice(["join", "invite", "leave"])
                model.observe_membership(user, membership, at)
                await member(db, ledger, user, membership, at, room)
        for t in range(0, at + 2):
            await message(db, ledger, ALICE, t, room=room)
        plan = await LedgerQueries(db).erasure_plan(
            await LedgerQueries(db).find_subject("rcAlice"), limit=100_000
        )
        for item in plan.items:
            if item.room_id == room:
                assert set(item.recipients) == model.recipients(item.sent_ms), (run, item.sent_ms)


async def test_a_join_observed_before_the_seed_still_counts(
    db: Database, ledger: DisclosureLedger
) -> None:
    """The room's first-contact seed reads the members a moment before it is written; a
    server that joined meanwhile and was observed first keeps its reach."""
    await member(db, ledger, "@bob:hs2.test", "join", 20)
    members = [SeedMember(BOT, "join", 5)]
    async with db.unit_of_work() as uow:
        assert await ledger.seed_room(
            uow, ROOM, members=members, visibility="shared", visibility_ts_ms=5
        )
    await message(db, ledger, ALICE, 100)
    assert await recipients(db, "alice") == {"hs1.test": 1, "hs2.test": 1}
