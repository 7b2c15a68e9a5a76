"""Consistency with the outbox, subjects, paging, erasure pseudonymisation and retention."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ids import EventID, RCMessageID, RoomID
from bridge.pipeline.contracts import RetryLater
from bridge.privacy.categories import Category, Origin
from bridge.privacy.hashing import HashKeyError, content_hash
from bridge.privacy.ledger import (
    BridgedItem,
    DisclosureLedger,
    LedgerError,
    LedgerSettings,
    ProfileChange,
    rocketchat_recipient,
)
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action, NewAction
from bridge.workers.outbox import OutboxWorker
from tests.privacy.helpers import ALICE, BOB, BOT, OTHER_ROOM, ROOM, SETTINGS, member, message, rc


@pytest.fixture
def ledger() -> DisclosureLedger:
    return DisclosureLedger(SETTINGS)


async def plan_of(db: Database, identifier: str) -> list[Any]:
    queries = LedgerQueries(db)
    page = await queries.erasure_plan(await queries.find_subject(identifier), limit=10_000)
    return list(page.items)


class FlakyHook:
    """Records the send; the first call dies before the done mark commits (a crash)."""

    def __init__(self, ledger: DisclosureLedger, crash_first: bool) -> None:
        self.ledger = ledger
        self.crash = crash_first

    async def __call__(
        self, uow: UnitOfWork, action: Action, result: dict[str, Any] | None
    ) -> None:
        assert result is not None
        await self.ledger.record(
            uow,
            BridgedItem(
                subject=ALICE,
                origin=Origin.ROCKETCHAT,
                room_id=RoomID(action.payload["room"]),
                sent_ms=result["ts"],
                categories=Category.MESSAGE_TEXT,
                event_id=EventID(result["event_id"]),
                rc_message_id=RCMessageID(action.payload["rc_id"]),
                content=action.payload["text"],
            ),
        )
        if self.crash:
            self.crash = False
            raise RuntimeError("killed before commit")


async def enqueue(db: Database) -> None:
    payload = {"room": ROOM, "rc_id": "m1", "text": "hi"}
    assert await db.outbox.add(NewAction("send:m1", "send", ROOM, payload))


async def test_a_disclosure_commits_with_the_done_mark_and_a_crash_repeats_nothing(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, BOT, "join", 1)
    await enqueue(db)
    sends = 0

    async def send(action: Action) -> dict[str, Any]:
        nonlocal sends
        sends += 1  # idempotent through the protocol: the same txnId gives the same event
        return {"event_id": "$sent", "ts": 100}

    worker = OutboxWorker(db, {"send": send}, on_done={"send": FlakyHook(ledger, True)})
    await worker.drain_once()  # the hook dies mid-transaction; the worker survives
    action = await db.outbox.get("send:m1") or {}
    assert (action["status"], action["attempts"]) == ("pending", 1)
    assert "killed" in action["last_error"]
    with pytest.raises(SubjectNotFoundError):
        await plan_of(db, "rcAlice")  # nothing of the interrupted transaction remains
    await worker.drain_once()  # it runs again at once (even past a PostgreSQL claim)
    assert sends == 2
    items = await plan_of(db, "rcAlice")
    assert [(i.event_id, i.rc_message_id, i.recipients) for i in items] == [
        ("$sent", "m1", ("hs1.test",))
    ]
    assert (await db.outbox.get("send:m1") or {})["status"] == "done"


async def test_a_send_that_never_happened_is_never_recorded(
    db: Database, ledger: DisclosureLedger
) -> None:
    await enqueue(db)

    async def send(action: Action) -> dict[str, Any]:
        raise RetryLater("homeserver down", retry_after=60)

    worker = OutboxWorker(db, {"send": send}, on_done={"send": FlakyHook(ledger, False)})
    await worker.drain_once()
    with pytest.raises(SubjectNotFoundError):
        await plan_of(db, "rcAlice")


async def test_linking_a_shadow_user_merges_the_two_subjects(
    db: Database, ledger: DisclosureLedger
) -> None:
    shadow = rc("rcShadowBob", "bob.hs2")
    await message(db, ledger, ALICE, 10, mentions=(shadow,))  # mentioned on RC as the shadow
    await message(db, ledger, BOB, 20, origin=Origin.MATRIX)
    async with db.unit_of_work() as uow:
        await ledger.link(uow, Origin.MATRIX, BOB.user_id, shadow.user_id, shadow.username)
    queries = LedgerQueries(db)
    subject = await queries.find_subject("bob.hs2")
    assert subject == await queries.find_subject(BOB.user_id)
    assert subject.origin is Origin.MATRIX
    assert [i.categories for i in await plan_of(db, "rcShadowBob")] == [
        Category.MENTION,
        Category.MESSAGE_TEXT,
    ]


async def test_erasure_plan_pages_in_room_and_time_order(
    db: Database, ledger: DisclosureLedger
) -> None:
    for t in (30, 10, 20):
        await message(db, ledger, ALICE, t, room=OTHER_ROOM)
        await message(db, ledger, ALICE, t + 1)
    queries = LedgerQueries(db)
    subject = await queries.find_subject("rcAlice")
    seen, after = [], None
    while True:
        page = await queries.erasure_plan(subject, after=after, limit=4)
        seen.extend((i.room_id, i.sent_ms) for i in page.items)
        if page.next is None:
            break
        after = page.next
    rooms_in_order = [OTHER_ROOM] * 3 + [ROOM] * 3  # the ledger saw OTHER_ROOM first
    assert [r for r, _ in seen] == rooms_in_order
    assert [t for _, t in seen] == [10, 20, 30, 11, 21, 31]


async def test_disclosed_to_pages_across_rooms_within_the_window(
    db: Database, ledger: DisclosureLedger
) -> None:
    for room in (ROOM, OTHER_ROOM):
        await member(db, ledger, "@x:hs2.test", "join", 5, room)
        for t in (10, 20, 30):
            await message(db, ledger, ALICE, t, room=room)
    await member(db, ledger, "@x:hs2.test", "leave", 25, OTHER_ROOM)
    queries = LedgerQueries(db)
    got, after = [], None
    while True:
        page = await queries.disclosed_to("hs2.test", since_ms=15, after=after, limit=2)
        got.extend((i.room_id, i.sent_ms) for i in page.items)
        if page.next is None:
            break
        after = page.next
    assert got == [(ROOM, 20), (ROOM, 30), (OTHER_ROOM, 20)]
    summary = await queries.server_summary("hs2.test")
    assert summary is not None and (summary.items, summary.subjects) == (5, 1)
    assert (await queries.disclosed_to("unknown.test")).items == ()


async def test_pseudonymisation_keeps_evidence_and_drops_identity(
    db: Database, ledger: DisclosureLedger
) -> None:
    await member(db, ledger, "@x:hs2.test", "join", 5)
    await message(db, ledger, ALICE, 10, content="secret")
    async with db.unit_of_work() as uow:
        assert await ledger.pseudonymise(uow, ALICE) == 1
        assert await ledger.pseudonymise(uow, rc("nobody")) == 0
    with pytest.raises(SubjectNotFoundError):
        await LedgerQueries(db).find_subject("rcAlice")
    summary = await LedgerQueries(db).server_summary("hs2.test")
    assert summary is not None and summary.items == 1  # the evidence of the flow remains
    page = await LedgerQueries(db).disclosed_to("hs2.test")
    assert page.items[0].event_id == "$ev10"


async def test_retention_prunes_only_older_disclosures(
    db: Database, ledger: DisclosureLedger
) -> None:
    for t in (10, 20, 30):
        await message(db, ledger, ALICE, t)
    async with db.unit_of_work() as uow:
        assert await ledger.prune_older_than(uow, 25) == 2
    assert [i.sent_ms for i in await plan_of(db, "rcAlice")] == [30]


async def test_invalid_records_are_refused(db: Database, ledger: DisclosureLedger) -> None:
    async with db.unit_of_work() as uow:
        with pytest.raises(LedgerError):
            await ledger.record_profile(
                uow,
                ProfileChange(ALICE, Origin.ROCKETCHAT, Category.MESSAGE_TEXT, 1, {ROOM: None}),
            )
        with pytest.raises(LedgerError):
            await ledger.record(uow, BridgedItem(ALICE, Origin.ROCKETCHAT, ROOM, 1, Category(0)))


def test_content_hash_is_keyed_and_the_key_must_be_long_enough() -> None:
    assert content_hash(b"a" * 32, "ok") != content_hash(b"b" * 32, "ok")
    assert len(content_hash(b"a" * 32, b"ok")) == 16
    with pytest.raises(HashKeyError):
        LedgerSettings(SETTINGS.local_server, SETTINGS.rocketchat, b"short")
    assert (
        rocketchat_recipient("https://chat.example.org:3000/") == "rocketchat:chat.example.org:3000"
    )
