"""SIGKILL in the middle of an erasure: it resumes, completes, and does nothing twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.config import load_config
from bridge.pipeline import keys
from bridge.privacy import report as words
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_model import ErasureStatus, RequestState
from bridge.sandbox.models import MatrixUser
from bridge.storage.database import Database
from tests.bridging.helpers import MatrixView
from tests.erasure.helpers import OFFICER, ledger_items, say, seen_redacted
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
ITEMS = 6


async def test_sigkill_mid_erasure_resumes_and_redacts_each_item_once(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    rid = RoomID(room.matrix_room_id)
    config = load_config(bridge_stack.config_path)
    try:
        events = [(await say(carol, room, views[0], f"crash {i}"))[1] for i in range(ITEMS)]
        await ledger_items(bridge_stack, carol_id, ITEMS)
        async with bridge_stack.as_subprocess() as proc:
            db = Database.from_config(config)
            engine = ErasureEngine(db, erasure_settings(config))
            try:
                # The process kills itself right after its 3rd redaction was accepted by
                # the homeserver, before that action is marked done.
                await proc.start(crash_at="erasure.redact.3")
                request_id = await engine.request(carol_id, OFFICER, verified=True)
                assert await proc.wait_exit(60) == -9
                mid = await engine.status(request_id)
                assert mid.state is RequestState.EXECUTING
                assert mid.matrix.get(words.REDACTION_SENT) == 2, "killed after the 3rd effect"
                await proc.start()

                async def done() -> ErasureStatus | None:
                    status = await engine.status(request_id)
                    return status if status.state.finished else None

                status = await wait_for(done, 120)
                redact_keys = [
                    a for a in await _redact_actions(db, request_id) if a["status"] == "done"
                ]
            finally:
                await db.close()
        assert status.state is RequestState.DONE
        assert status.matrix == {words.REDACTION_SENT: ITEMS} | (
            {words.NOT_NEEDED: status.matrix[words.NOT_NEEDED]}
            if words.NOT_NEEDED in status.matrix
            else {}
        )
        assert len(redact_keys) == ITEMS  # one outbox action per item, each done once
        assert await seen_redacted(views[1], rid, events)
        # hs2 (bob's server) holds exactly one redaction per item: the repeat after the
        # crash reused its txnId, so the homeserver returned the first redaction.
        timeline = await views[1].timeline(rid, limit=500)
        for event_id in events:
            redactions = [
                e
                for e in timeline
                if e["type"] == "m.room.redaction"
                and (e.get("redacts") or e["content"].get("redacts")) == event_id
            ]
            assert len(redactions) == 1, (event_id, redactions)
    finally:
        for view in views:
            await view.close()


async def _redact_actions(db: Database, request_id: str) -> list[dict[str, object]]:
    async with db.unit_of_work() as uow:
        items = await uow.erasure.items(request_id)
    found = []
    for item in items:
        if item.matrix_status == words.NOT_NEEDED:
            continue
        action = await db.outbox.get(keys.erasure_redact_key(request_id, item.disclosure_id))
        assert action is not None
        found.append(action)
    return found
