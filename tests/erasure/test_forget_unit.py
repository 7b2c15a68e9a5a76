"""Forgetting an erased person, table by table, on each database backend: what is renamed,
what goes, what stays (and that nothing else is touched)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from bridge.commands.context import CommandContext
from bridge.privacy import pseudonyms
from bridge.privacy.forget import Identity, forget
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.pseudonyms import legacy_name, member_tag, person_name
from bridge.storage.commands_rows import NoticeShownRow, OptOutRow
from bridge.storage.cursors import DatabaseCursorStore
from bridge.storage.database import Database
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import NewAction
from tests.fixtures.databases import TEST_PSEUDONYM_KEY
from tests.privacy.helpers import ROOM, SETTINGS, member

KEY = TEST_PSEUDONYM_KEY
ALICE = "@alice:hs1.test"
SHADOW_ID = "Sh4dowRcUserId123"
NAME = "pseudonym:" + "ab" * 16  # the name forget() is told to use
LATER = 10**15  # when forgotten keys are to be shredded: not within these tests


async def _name(db: Database, account_id: str = ALICE) -> str:
    """The person's pseudonym (their key made if need be)."""
    async with db.unit_of_work() as uow:
        return await pseudonyms.of(uow, account_id)


async def _column(db: Database, sql: str) -> list[str]:
    async with db.engine.begin() as conn:
        return [str(v) for v in (await conn.execute(text(sql))).scalars()]


async def test_people_keyed_command_rows_hold_pseudonyms_and_old_rows_still_count(
    db: Database,
) -> None:
    async with db.unit_of_work() as uow:
        person = await person_name(uow, f"matrix:{ALICE}")
        assert await uow.commands.set_opt_out(person, True)
        assert await uow.commands.mark_notice_shown(person)
        await uow.commands.count_command(person, 60_000)
        await uow.commands.add_confirmation(person, "0" * 64, "delete", "{}", 10**15)
    name = await _name(db)
    assert name != legacy_name(KEY, ALICE), "keyed per person, not with privacy.hash_key"
    for table in ("privacy_optout", "privacy_notice_shown", "command_rate"):
        assert await _column(db, f"SELECT person FROM {table}") == [name], table
    assert await _column(db, "SELECT person FROM command_confirmation") == [name]
    async with db.unit_of_work() as uow:
        assert await uow.commands.opted_out(person)
        assert not await uow.commands.mark_notice_shown(person), "shown once only"
        assert await uow.commands.live_confirmation(person, "delete") is not None
        # A row an older version stored by id is still found, and removed by an opt-in.
        uow.commands._s.add(OptOutRow(person="rocketchat:OldRawId0000000001", since_ms=5))
        await uow.commands._s.flush()
        old = await person_name(uow, "rocketchat:OldRawId0000000001")
        assert await uow.commands.opted_out_since(old) == 5
        assert await uow.commands.set_opt_out(old, False)
        assert not await uow.commands.opted_out(old)
        # So is one stored under the pseudonym an older version keyed with hash_key.
        uow.commands._s.add(OptOutRow(person=legacy_name(KEY, "OldPseudonymised01"), since_ms=6))
        await uow.commands._s.flush()
        older = await person_name(uow, "rocketchat:OldPseudonymised01")
        assert await uow.commands.opted_out_since(older) == 6


async def test_forget_keeps_an_old_opt_out_under_the_pseudonym(db: Database) -> None:
    person = f"matrix:{ALICE}"
    name = await _name(db)
    async with db.unit_of_work() as uow:
        # As older versions stored them: by id, and under the hash_key pseudonym.
        uow.forget._s.add(OptOutRow(person=person, since_ms=7))
        uow.forget._s.add(NoticeShownRow(person=legacy_name(KEY, ALICE), shown_ms=8))
        await uow.forget._s.flush()
        await forget(uow, Identity(ALICE, None, None), name, LATER)
    assert await _column(db, "SELECT person FROM privacy_optout") == [name]
    assert await _column(db, "SELECT person FROM privacy_notice_shown") == [name]
    async with db.unit_of_work() as uow:
        held = await uow.commands.opted_out_since(await person_name(uow, person))
    assert held == 7, "the opt-out still holds"


async def test_forget_renames_finished_queue_keys_and_touches_nothing_else(db: Database) -> None:
    short = "msg"  # a shadow username that is also part of every "rc-msg:" key
    # She is still in a room, recorded by id as an older version did.
    await member(db, DisclosureLedger(SETTINGS), ALICE, "join", 1_000)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE ledger_member SET user_id = :u"), {"u": ALICE})
    async with db.unit_of_work() as uow:
        for key, queue, payload in (
            (f"shadow:{ALICE}", f"privacy:matrix:{ALICE}", {"x": 1}),
            (f"rc-react:m1:smile:{short}:5", "rc:room1", {"text": f"hi @{short}"}),
            ("rc-msg:m2:0", "rc:room1", {"text": "unrelated message"}),
            (f"mx-msg:$pending:{ALICE}", "rc:room1", {"sender": ALICE}),
        ):
            await uow.enqueue(NewAction(key=key, kind="k", queue=queue, payload=payload))
    async with db.unit_of_work() as uow:
        await uow.forget._s.execute(
            update(OutboxAction)
            .where(OutboxAction.key.not_like("mx-msg:%"))
            .values(status="failed")
        )
        await uow.forget._s.execute(
            update(OutboxAction)
            .where(OutboxAction.key.like("shadow:%"))
            .values(result='{"rc_username": "msg"}')
        )
        await forget(uow, Identity(ALICE, SHADOW_ID, short), NAME, LATER)
    async with db.sessions() as s:
        rows = {r.key: r for r in (await s.scalars(select(OutboxAction))).all()}
    assert set(rows) == {
        f"shadow:{NAME}",
        f"rc-react:m1:smile:{NAME}:5",
        "rc-msg:m2:0",  # "msg" is a substring here, not a part: untouched
        f"mx-msg:$pending:{ALICE}",  # still to run: left alone
    }
    assert rows[f"shadow:{NAME}"].queue == f"privacy:matrix:{NAME}"
    assert rows[f"shadow:{NAME}"].payload == "{}" and rows[f"shadow:{NAME}"].result is None
    assert rows[f"rc-react:m1:smile:{NAME}:5"].payload == "{}", "an @-mention of the name"
    assert rows["rc-msg:m2:0"].payload == '{"text":"unrelated message"}'
    assert ALICE in rows[f"mx-msg:$pending:{ALICE}"].payload
    assert await _column(db, "SELECT user_id FROM ledger_member") == [member_tag(KEY, ALICE)]


@pytest.mark.parametrize("earlier", ["id", "pseudonym"])
async def test_ledger_members_are_stored_by_tag_and_old_rows_leave(
    db: Database, earlier: str
) -> None:
    ledger = DisclosureLedger(SETTINGS)
    bob = "@bob:hs2.test"
    await member(db, ledger, bob, "join", 1_000)
    stored = await _column(db, "SELECT user_id FROM ledger_member")
    assert stored == [member_tag(SETTINGS.hash_key, bob)], "no member is stored by id"
    async with db.engine.connect() as conn:
        keys = (await conn.execute(text("SELECT count(*) FROM pseudonym_key"))).scalar()
    assert keys == 0, "a member needs no key of their own"
    # A row an older version stored by id, or by its pseudonym, goes when that user leaves.
    old = bob if earlier == "id" else legacy_name(SETTINGS.hash_key, bob)
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM ledger_member"))
        await conn.execute(
            text(
                "INSERT INTO ledger_member (room_ref, server_ref, user_id, membership, since_ms)"
                " SELECT id, (SELECT id FROM ledger_server WHERE name = 'hs2.test'), :u, 2, 1"
                " FROM ledger_room WHERE room_id = :r"
            ),
            {"u": old, "r": ROOM},
        )
    await member(db, ledger, bob, "leave", 2_000)
    assert await _column(db, "SELECT user_id FROM ledger_member") == [], "hs2 has left"


async def test_answers_in_a_rocketchat_dm_keep_no_user_id_once_done(db: Database) -> None:
    person = "PersonUserId00001"
    dm = "BotUserId00000001" + person  # how Rocket.Chat names a DM: both ids put together
    ctx = CommandContext("rocketchat", person, "person", dm, "$command", is_direct=True)
    async with db.unit_of_work() as uow:
        await ctx.reply(uow, "hello")
        await uow.commands.watch("er-1", "rocketchat", dm, "received")
        await uow.commands.finish_watch("er-1")  # the final report was queued
    queues = await _column(db, "SELECT queue FROM outbox")
    assert queues and not [q for q in queues if person in q], queues
    assert await _column(db, "SELECT room_id FROM command_request_watch") == []


async def test_earlier_finished_requests_about_the_person_lose_their_ids(db: Database) -> None:
    async with db.unit_of_work() as uow:
        for rid, finished in (("er-denied", 5), ("er-open", None)):
            await uow.erasure.add_request(
                id=rid,
                subject_ref=1,
                subject_origin=2,
                subject_matrix_id=ALICE,
                subject_rc_id=SHADOW_ID,
                subject_rc_username="alice.shadow",
                requester=ALICE,
                requester_side="matrix",
                jurisdiction="gdpr",
                state="denied" if finished else "executing",
                received_ms=1,
                due_ms=2,
                finished_ms=finished,
            )
            await uow.erasure.log(rid, "received", ALICE, "scope: everything")
        await forget(uow, Identity(ALICE, SHADOW_ID, "alice.shadow"), NAME, LATER)
        denied = await uow.erasure.request("er-denied")
        running = await uow.erasure.request("er-open")
        log = await uow.erasure.log_entries("er-denied")
    assert denied is not None and running is not None
    assert (denied.subject_matrix_id, denied.subject_rc_id, denied.subject_rc_username) == (
        None,
        None,
        None,
    )
    assert denied.pseudonym == NAME.removeprefix("pseudonym:") and denied.requester == NAME
    assert [e.actor for e in log] == [NAME]
    assert running.subject_matrix_id == ALICE, "an open request keeps what it executes with"


async def test_catch_up_cursors_keep_no_room_id_and_old_names_still_count(db: Database) -> None:
    dm = "BotUserId00000001PersonUserId00001"  # a Rocket.Chat DM id: both user ids
    cursors = DatabaseCursorStore(db.sessions, "rc")
    later = datetime(2026, 1, 2, tzinfo=UTC)
    await cursors.set(dm, datetime(2026, 1, 1, tzinfo=UTC))
    assert not [n for n in await _column(db, "SELECT name FROM cursor") if "PersonUser" in n]
    # A cursor an older version named by the room id: the later of the two counts.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO cursor (name, value, updated_ms) VALUES (:n, :v, 1)"),
            {"n": f"rc:{dm}", "v": later.isoformat(timespec="microseconds")},
        )
    assert await cursors.get(dm) == later
    # Erasing the person removes it.
    async with db.unit_of_work() as uow:
        await forget(uow, Identity(None, "PersonUserId00001", None), NAME, LATER)
    assert not [n for n in await _column(db, "SELECT name FROM cursor") if "PersonUser" in n]


async def test_forgetting_a_person_twice_keeps_one_row_per_renamed_key(db: Database) -> None:
    """A second erasure of the same person finds a finished action whose key, renamed,
    is one the first erasure already holds (e.g. the same profile scrub). Renaming it
    broke the key's uniqueness, so the request's finishing transaction failed on every
    try and the request never finished."""
    async with db.unit_of_work() as uow:
        await uow.enqueue(NewAction(key=f"shadow:{ALICE}", kind="k", queue="q", payload={}))
    async with db.unit_of_work() as uow:
        await uow.forget._s.execute(update(OutboxAction).values(status="done"))
        await forget(uow, Identity(ALICE, SHADOW_ID, "alice"), NAME, LATER)
    # The same action again, for the second request, and done.
    async with db.unit_of_work() as uow:
        await uow.enqueue(NewAction(key=f"shadow:{ALICE}", kind="k", queue="q", payload={}))
    async with db.unit_of_work() as uow:
        await uow.forget._s.execute(update(OutboxAction).values(status="done"))
        await forget(uow, Identity(ALICE, SHADOW_ID, "alice"), NAME, LATER)
    keys = await _column(db, "SELECT key FROM outbox")
    assert keys == [f"shadow:{NAME}"]
