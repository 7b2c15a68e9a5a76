"""``bridge audit subject``: when each of the person's items expires, room by room."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from bridge.cli.main import main
from bridge.privacy.expiry import open_expiry
from bridge.storage.policy import RoomPolicyRecord
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import keyed_database
from tests.privacy.helpers import ROOM
from tests.privacy.test_audit_cli import DAY, T0, documented_schema, populate, run


async def _policy(url: str, expire_before: int | None = None) -> None:
    db = keyed_database(url)
    try:
        async with db.unit_of_work() as uow:
            await uow.room_policies.put(
                RoomPolicyRecord(ROOM, "GENERAL", "general", DAY, False, "room", T0)
            )
            if expire_before is not None:
                await open_expiry(uow, ROOM, expire_before)
    finally:
        await db.close()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, str]:
    path = write_config(tmp_path / "config.yaml")
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"
    asyncio.run(populate(url))
    return path, url


def _expiry(capsys: pytest.CaptureFixture[str], config: Path) -> list[dict[str, object]]:
    code, out, _ = run(capsys, "audit", "subject", "alice", "-c", str(config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, documented_schema("subject"))
    expiry: list[dict[str, object]] = data["expiry"]
    return expiry


def test_each_item_expires_the_rooms_max_age_after_it_was_sent(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = setup
    assert _expiry(capsys, config) == []  # no policy read yet: nothing is said to expire
    asyncio.run(_policy(url))
    (room,) = _expiry(capsys, config)
    # Alice's two messages, sent at T0+10 ms and T0+1 day+5 ms, under a 1-day policy.
    assert room == {
        "room_id": ROOM,
        "max_age_ms": DAY,
        "files_only": False,
        "pending": 2,
        "expired_before": None,
        "first_expiry": "2024-10-05T00:00:00.010Z",
        "last_expiry": "2024-10-06T00:00:00.005Z",
    }


def test_items_before_the_rooms_latest_expiry_are_gone(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = setup
    asyncio.run(_policy(url, expire_before=T0 + DAY))
    (room,) = _expiry(capsys, config)
    assert room["pending"] == 1
    assert room["expired_before"] == "2024-10-05T00:00:00.000Z"
    assert room["first_expiry"] == room["last_expiry"] == "2024-10-06T00:00:00.005Z"
