"""The dashboard's retention page: each room's policy and its next expiry."""

from __future__ import annotations

import datetime as dt
import re

from bridge.privacy.queries import LedgerQueries
from bridge.storage.policy import RoomPolicyRecord
from tests.privacy.helpers import ROOM
from tests.web.conftest import Site
from tests.web.test_auth import login


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _row(site: Site) -> str:
    page = await (await site.client.get("/admin/retention")).text()
    row = re.search(rf'<tr data-room="{re.escape(ROOM)}">(.*?)</tr>', page, re.S)
    assert row is not None, page
    return row.group(1)


async def test_policy_per_room_and_the_next_expiry(site: Site) -> None:
    async with site.db.unit_of_work() as uow:
        await uow.room_policies.put(
            RoomPolicyRecord(ROOM, "GENERAL", "general", 60_000, False, "room", 1_000)
        )
    items = (await LedgerQueries(site.db).room_items(ROOM, 0, 2**62, limit=100)).items
    times = sorted({i.sent_ms for i in items})
    assert len(times) >= 2
    await login(site.client)
    row = await _row(site)
    assert "messages older than 1 minute (room policy)" in row
    assert "none yet" in row
    assert _iso(times[0] + 60_000) in row  # the oldest item is the next to expire
    # An expiry of everything sent before the second item: the next one is that item.
    request_id = await site.engine.expire(ROOM, times[1])
    assert request_id is not None
    row = await _row(site)
    assert request_id in row and _iso(times[1]) in row
    assert _iso(times[1] + 60_000) in row


async def test_a_room_without_policy_keeps_its_messages(site: Site) -> None:
    async with site.db.unit_of_work() as uow:
        await uow.room_policies.put(
            RoomPolicyRecord(ROOM, "GENERAL", "general", None, False, None, 1_000)
        )
    await login(site.client)
    row = await _row(site)
    assert "none (kept)" in row and "nothing waiting" in row


async def test_the_subject_page_shows_when_the_persons_items_expire(site: Site) -> None:
    async with site.db.unit_of_work() as uow:
        await uow.room_policies.put(
            RoomPolicyRecord(ROOM, "GENERAL", "general", 60_000, False, "room", 1_000)
        )
    csrf = await login(site.client)
    resp = await site.client.post("/admin/subjects", data={"subject": "alice", "csrf": csrf})
    page = await resp.text()
    row = re.search(rf'<tr data-room="{re.escape(ROOM)}">(.*?)</tr>', page, re.S)
    assert row is not None, page
    assert "60 s" in row.group(1)
    pending = re.search(r'class="pending">(\d+)<', row.group(1))
    assert pending is not None and int(pending.group(1)) >= 1
