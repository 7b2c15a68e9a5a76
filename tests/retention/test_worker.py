"""The retention worker with a controllable clock and a scripted Rocket.Chat: the policy
is mirrored when it appears, changes or goes, and expiries open only when items expired."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.privacy.erasure_model import RequestId
from bridge.rctypes.retention import RCRoomRetention
from bridge.storage.database import Database
from bridge.workers.retention import SET_RETENTION, RetentionWorker, set_retention_action

DAY = 86_400_000
ROOM = "!portal:hs1.test"


class FakeRocketChat:
    def __init__(self) -> None:
        self.settings: dict[str, Any] = {"RetentionPolicy_Enabled": True}
        self.retention: dict[str, Any] = {}

    async def setting(self, setting_id: str) -> Any:
        return self.settings.get(setting_id)

    async def room_retention(self, room_id: Any) -> RCRoomRetention:
        return RCRoomRetention.parse({"t": "c", "retention": dict(self.retention)})

    def override(self, days: float) -> None:
        self.retention = {"enabled": True, "overrideGlobal": True, "maxAge": days}


class Expirer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []

    async def expire(
        self, room_id: str, before_ms: int, *, files_only: bool = False
    ) -> RequestId | None:
        self.calls.append((room_id, before_ms, files_only))
        return None


async def _mirrored(db: Database) -> list[dict[str, Any]]:
    out = []
    for content in ({}, {"max_lifetime": DAY}, {"max_lifetime": 2 * DAY}):
        found = await db.outbox.get(set_retention_action(ROOM, content).key)
        if found is not None:
            assert found["kind"] == SET_RETENTION
            out.append(content)
    return out


@pytest.mark.asyncio
async def test_the_policy_is_mirrored_when_it_appears_changes_and_goes(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.bridging.add_portal("GENERAL", "c", ROOM, "general")
    rc, expirer, now = FakeRocketChat(), Expirer(), [100 * DAY]
    worker = RetentionWorker(db, expirer, lambda: rc, interval_seconds=60, clock=lambda: now[0])

    await worker.run_once()  # no policy, first seen: nothing said into the room
    assert await _mirrored(db) == [] and expirer.calls == []
    rc.override(1)
    await worker.run_once()
    assert await _mirrored(db) == [{"max_lifetime": DAY}]
    assert expirer.calls == [(ROOM, 99 * DAY, False)]  # cut off one day before "now"
    now[0] += 60_000
    await worker.run_once()  # unchanged: the same content (one action per content)
    assert await _mirrored(db) == [{"max_lifetime": DAY}]
    rc.override(2)
    await worker.run_once()
    assert {"max_lifetime": 2 * DAY} in await _mirrored(db)
    assert expirer.calls[-1] == (ROOM, now[0] - 2 * DAY, False)
    rc.retention = {"enabled": False}
    await worker.run_once()  # the policy went: the room says so
    assert {} in await _mirrored(db)
    assert len(expirer.calls) == 3  # no policy, no expiry
