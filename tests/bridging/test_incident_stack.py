"""`bridge incident open` on the real stack: the affected Rocket.Chat user is listed with
the item counts the ledger gives for the server, and gets the notice in her Rocket.Chat
DM with the bridge; the report validates against its published schema."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources

import jsonschema
import pytest

from bridge.ids import RCRoomID
from bridge.privacy.incident import incident_scope
from bridge.privacy.incident_run import open_incident
from bridge.privacy.queries import LedgerQueries
from bridge.sandbox.models import MatrixUser
from tests.commands.helpers import rc_bot_texts, rc_dm
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_incident_lists_the_person_and_tells_her_in_her_rocketchat_dm(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2 = stack.homeservers.server_names[1]
    alice = await stack.rc_user()
    me = await alice.me()
    hs2_user = await make_user(1)
    room = await portal([alice], [hs2_user])
    await alice.post_message(RCRoomID(room.rc_room_id), "minutes of the meeting")
    queries = LedgerQueries(stack.app.db)

    async def recorded() -> bool:
        scope = await incident_scope(stack.app.db, hs2, None)
        return any(p.user_id == me.id for p in scope.people)

    await wait_for(recorded, 30)
    summary = await queries.server_summary(hs2)
    assert summary is not None
    outcome = await open_incident(
        stack.app.db,
        hs2,
        since_ms=None,
        dry_run=False,
        deny=False,
        actor="cli:test",
        organisation=stack.app.config.homeserver.domain,
        contact_points=["dpo@hs1.example"],
        support=stack.app.erasure_support,
        mail_enabled=False,
    )
    schema = json.loads(
        resources.files("bridge.commands").joinpath("schemas/incident.schema.json").read_text()
    )
    jsonschema.validate(outcome.report.document(), schema)
    assert outcome.report.records.approximate_number == summary.items
    assert outcome.report.data_subjects.approximate_number == summary.subjects
    mine = next(p for p in outcome.scope.people if p.username == me.username)
    assert mine.items >= 1 and mine.rooms[room.matrix_room_id] >= 1

    dm = await rc_dm(alice)

    async def told() -> str | None:
        texts = await rc_bot_texts(alice, dm)
        return next((t for t in texts if t.startswith("Notice from") and hs2 in t), None)

    text = await wait_for(told, 60)
    assert f"received {mine.items} item(s)" in text and "!privacy export" in text
