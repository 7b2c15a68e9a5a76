"""The Matrix side's erasure actions are queued with what their executors need (the event
and its redactor, the ghost and its personas, the media scope, the notice's content), and
a row an older version queued with ids only is completed to the same before it runs
(bridge.privacy.erasure_inputs_matrix). No homeserver: the connector is a recorder.
tests/test_connectors_state.py checks that the connector itself reads none of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.ids import ServerName
from bridge.pipeline import keys
from bridge.pipeline.actions import KINDS, Run, converter, executor, typed
from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import erasure_sequence as sequence
from bridge.privacy import pseudonyms
from bridge.privacy import report as words
from bridge.privacy.erasure import EngineSettings, ErasureEngine
from bridge.privacy.erasure_inputs import completed
from bridge.privacy.erasure_inputs_matrix import COMPLETERS
from bridge.privacy.erasure_kinds import GhostScrub, MediaDelete, Notice, RedactItem
from bridge.privacy.erasure_model import ErasureScope, Requester, RequesterSide
from bridge.privacy.erasure_plan import PlanSettings
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from bridge.storage.personas import Persona
from tests.erasure.test_engine_unit import _seed
from tests.privacy.helpers import BOT, GHOST_ALICE, ROOM, SETTINGS

OFFICER = Requester("dpo", RequesterSide.ADMIN)
PERSONA = "@rc_fox:hs1.test"


async def _planned(db: Database) -> str:
    """Alice's request, planned and queued with admin_token (so the media step too)."""
    await _seed(db)
    async with db.unit_of_work() as uow:
        await uow.bridging.upsert_ghost("rcAlice", "alice", GHOST_ALICE)
        await uow.personas.save(Persona(PERSONA, "rcAlice", "Fox", named_ms=1))
        await uow.personas.save(Persona("@rc_owl:hs1.test", "rcAlice", "Owl"))  # never named
    plan = PlanSettings(ServerName("hs1.test"), SETTINGS.rocketchat, BOT, admin_token=True)
    engine = ErasureEngine(db, EngineSettings(plan=plan, ledger=SETTINGS))
    rid = await engine.request("rcAlice", OFFICER, ErasureScope(before_ms=9_000), verified=True)
    for _ in range(4):
        await engine.step()
    return rid


async def _queued(db: Database, key: str) -> dict[str, Any]:
    row = await db.outbox.get(key)
    assert row is not None, key
    return dict(row["payload"])


async def _completed(db: Database, kind: str, old: dict[str, Any]) -> object:
    """What the connector receives for a row an older version stored as ``old``."""
    seen: list[object] = []

    async def connector(run: Run[Any]) -> None:
        seen.append(run.payload)

    table = completed(db, {kind: executor(KINDS[kind], connector)}, COMPLETERS)
    await table[kind](Action(1, "k", kind, "q", old, 0))
    assert len(seen) == 1
    return seen[0]


async def test_redactions_and_media_carry_their_inputs_and_older_rows_complete(
    db: Database,
) -> None:
    rid = await _planned(db)
    async with db.unit_of_work() as uow:
        items = [i for i in await uow.erasure.items(rid) if i.matrix_status == words.PENDING]
    assert items
    for item in items:
        stored = await _queued(db, keys.erasure_redact_key(rid, item.disclosure_id))
        assert stored == {
            "request_id": rid,
            "disclosure_id": item.disclosure_id,
            "room_id": ROOM,
            "event_id": item.event_id,
            "redactor": item.redactor,
        }
        old = {"request_id": rid, "disclosure_id": item.disclosure_id}
        assert await _completed(db, kinds.REDACT, old) == converter.structure(stored, RedactItem)

    stored = await _queued(db, keys.erasure_step_key(rid, "media"))
    media = {"request_id": rid, "step": "media", "ghost": GHOST_ALICE, "before_ms": 9_000}
    assert stored == media
    old = {"request_id": rid, "step": "media"}
    assert await _completed(db, kinds.MEDIA, old) == MediaDelete(rid, "media", GHOST_ALICE, 9_000)


async def test_the_ghost_scrub_names_the_ghost_and_its_named_personas(db: Database) -> None:
    rid = await _planned(db)
    async with db.unit_of_work() as uow:
        await uow.erasure.set_step(rid, sequence.GHOST, words.PENDING)  # a whole-scope request
        items = await uow.erasure.items(rid)
        await uow.erasure.set_items([i.id for i in items], matrix_status=words.REDACTION_SENT)
        await sequence.side_settled(uow, rid, "matrix")
    stored = await _queued(db, keys.erasure_step_key(rid, sequence.GHOST))
    scrub = GhostScrub(rid, sequence.GHOST, GHOST_ALICE, (PERSONA,))
    assert typed(Action(1, "k", kinds.GHOST_SCRUB, "q", stored, 0), GhostScrub).payload == scrub
    old = {"request_id": rid, "step": sequence.GHOST}
    assert await _completed(db, kinds.GHOST_SCRUB, old) == scrub


async def test_notices_are_built_when_the_media_step_settles(db: Database) -> None:
    rid = await _planned(db)
    deleted = ["mxc://hs1.test/a"]
    async with db.unit_of_work() as uow:
        await uow.erasure.set_step(rid, "media", "done", "1 file", data=json.dumps(deleted))
        await sequence.media_settled(uow, rid)
        named = await pseudonyms.of(uow, "rcAlice")
        items = await uow.erasure.items(rid)
    events = tuple(str(i.event_id) for i in items if i.matrix_status != words.NOT_NEEDED)
    for server in ("hs2.test", "hs3.test"):
        stored = await _queued(db, keys.erasure_notice_key(rid, server))
        notice = converter.structure(stored, Notice)
        assert notice.content is not None
        assert notice.content.media == tuple(deleted)
        assert notice.content.subject == named
        assert notice.content.organisation == "", "the connector adds our server's name"
        assert "organisation" not in stored["content"]
        # The request's rooms on that server, with the subject's events redacted there.
        assert dict(notice.content.rooms) == {ROOM: events}
        old = {"request_id": rid, "server": server}
        assert await _completed(db, kinds.NOTICE, old) == notice


async def test_an_older_row_whose_request_is_gone_fails_for_good(db: Database) -> None:
    for kind, old in (
        (kinds.REDACT, {"request_id": "er-gone", "disclosure_id": 1}),
        (kinds.GHOST_SCRUB, {"request_id": "er-gone", "step": "ghost_profile"}),
        (kinds.MEDIA, {"request_id": "er-gone", "step": "media"}),
        (kinds.NOTICE, {"request_id": "er-gone", "server": "hs2.test"}),
    ):
        with pytest.raises(PermanentFailure):
            await _completed(db, kind, old)
