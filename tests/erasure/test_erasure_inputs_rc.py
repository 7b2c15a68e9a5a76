"""The Rocket.Chat side's erasure actions carry what their executors need
(bridge.privacy.erasure_inputs_rc): the privacy layer decides whose messages a
cleanHistory removes and which shadow a scrub renames, and completes rows an older
version queued with only the request's id; the connector reads no erasure state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from bridge.pipeline.actions import Run
from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.categories import Origin
from bridge.privacy.erasure_inputs_rc import COMPLETERS
from bridge.privacy.erasure_kinds import Cleaning, RCClean, ShadowScrub
from bridge.privacy.erasure_sequence import SHADOW, side_settled
from bridge.rocketchat.erasure_executors import RocketChatErasureExecutors
from bridge.storage.database import Database, UnitOfWork

pytestmark = pytest.mark.asyncio

ALICE = "@alice:hs2.example"


async def _request(
    uow: UnitOfWork, rid: str, origin: Origin, *, username: str | None, before: int | None
) -> None:
    await uow.erasure.add_request(
        id=rid,
        subject_ref=1,
        subject_origin=int(origin),
        subject_matrix_id=ALICE if origin is Origin.MATRIX else None,
        subject_rc_id="RcUserId000000001",
        subject_rc_username=username,
        requester="someone",
        requester_side="matrix",
        jurisdiction="gdpr",
        scope_before_ms=before,
        state="executing",
        received_ms=1,
        due_ms=2,
    )


async def test_older_rows_are_completed_from_the_request(db: Database) -> None:
    clean, shadow = COMPLETERS[kinds.RC_CLEAN], COMPLETERS[kinds.SHADOW_SCRUB]
    async with db.unit_of_work() as uow:
        await _request(uow, "er-rc", Origin.ROCKETCHAT, username="frank", before=1234)
        await _request(uow, "er-mx", Origin.MATRIX, username=None, before=None)
        older = RCClean("er-rc", "GENERAL")
        assert clean.lacks(older) and not clean.lacks(RCClean("er-rc", "GENERAL", Cleaning("x")))
        assert await clean.complete(uow, older) == RCClean(
            "er-rc", "GENERAL", Cleaning("frank", 1234)
        )
        # A Matrix user without a shadow has no username: the executor refuses then.
        assert await clean.complete(uow, RCClean("er-mx", "GENERAL")) == RCClean(
            "er-mx", "GENERAL", Cleaning(None)
        )
        assert await shadow.complete(uow, ShadowScrub("er-mx", SHADOW)) == ShadowScrub(
            "er-mx", SHADOW, ALICE
        )
        with pytest.raises(PermanentFailure):
            await shadow.complete(uow, ShadowScrub("er-gone", SHADOW))


async def test_the_shadow_scrub_is_queued_with_its_matrix_user(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await _request(uow, "er-mx", Origin.MATRIX, username=None, before=None)
        await uow.erasure.set_step("er-mx", SHADOW, words.PENDING)
        await side_settled(uow, "er-mx", "rc")  # no Rocket.Chat item is open
    async with db.engine.begin() as conn:
        rows = (await conn.execute(text("SELECT kind, payload FROM outbox"))).all()
    assert [(kind, json.loads(payload)) for kind, payload in rows] == [
        (
            kinds.SHADOW_SCRUB,
            {"request_id": "er-mx", "step": SHADOW, "matrix_user_id": ALICE},
        )
    ]


class _Admin:
    def __init__(self) -> None:
        self.cleaned: list[dict[str, Any]] = []

    async def clean_history(self, room: str, **kw: Any) -> Any:
        self.cleaned.append({"room": room, **kw})
        return type("Cleaned", (), {"count": 3})()


def _clean(payload: RCClean) -> Run[RCClean]:
    return Run(1, "k", kinds.RC_CLEAN, "q", 0, payload)


async def test_clean_history_runs_from_the_payload_alone(db: Database) -> None:
    admin = _Admin()
    # No request exists: the executor must not need one.
    executors = RocketChatErasureExecutors(admin, db)  # type: ignore[arg-type]
    done = await executors.clean(_clean(RCClean("er-x", "GENERAL", Cleaning("frank", 5000))))
    assert done.count == 3
    (call,) = admin.cleaned
    assert call["users"] == ["frank"] and call["inclusive"] is False
    assert int(call["latest"].timestamp() * 1000) == 5000
    await executors.clean(_clean(RCClean("er-x", "GENERAL", Cleaning("frank"))))
    assert admin.cleaned[1]["inclusive"] is True, "no scope: up to now, inclusive"
    with pytest.raises(PermanentFailure, match="no Rocket.Chat username"):
        await executors.clean(_clean(RCClean("er-x", "GENERAL", Cleaning(None))))
