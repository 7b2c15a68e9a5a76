"""The dashboard's retention page: each portal's policy and its next expiries.

The policies are those the retention worker last read from Rocket.Chat (``room_retention``);
the expiries come from the request log and the ledger. The page names rooms and request
ids, never people (docs/retention.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from bridge.privacy.queries import LedgerQueries
from bridge.privacy.retention_policy import RoomPolicy
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.policy import RoomPolicyRecord
from bridge.web.deps import Deps


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RetentionPage:
    def __init__(self, deps: Deps, db: Database) -> None:
        self.d = deps
        self._db = db

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/retention", self.page)

    async def page(self, request: web.Request) -> web.Response:
        return self.d.render(request, "retention.html", rooms=await self.rooms(now_ms()))

    async def rooms(self, now: int) -> list[dict[str, Any]]:
        async with self._db.unit_of_work() as uow:
            records = await uow.room_policies.all()
        return [await self._room(r, now) for r in records]

    async def _room(self, r: RoomPolicyRecord, now: int) -> dict[str, Any]:
        async with self._db.unit_of_work() as uow:
            cutoff = await uow.erasure.expiry_bounds(r.room_id)
            latest = await uow.erasure.latest_expiry(r.room_id)
        policy = (
            None
            if r.max_age_ms is None
            else RoomPolicy(r.max_age_ms, r.files_only, r.source or "global")
        )
        next_ms = None
        if policy is not None:
            page = await LedgerQueries(self._db).room_items(
                r.room_id, cutoff or 0, now + 1, limit=1
            )
            if page.items:
                next_ms = page.items[0].sent_ms + policy.max_age_ms
        return {
            "room_id": r.room_id,
            "name": r.name or r.rc_room_id,
            "policy": "none (kept)" if policy is None else policy.describe(),
            "read": _iso(r.read_ms),
            "latest_expiry": None if latest is None else latest.id,
            "latest_state": None if latest is None else latest.state.replace("_", " "),
            "expired_before": _iso(cutoff),
            "next_expiry": _iso(next_ms),
        }
