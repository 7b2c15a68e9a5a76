"""``bridge privacy list``: requests with state and deadline; filters; JSON; exit codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from bridge.cli.main import main
from bridge.privacy.deadlines import Jurisdiction
from bridge.storage.erasure_rows import ErasureRequestRow
from tests.erasure.test_engine_unit import OFFICER, _engine, _seed
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import keyed_database

DAY = 86_400_000


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return json.loads(capsys.readouterr().out)["requests"]  # type: ignore[no-any-return]


def test_list_filters_by_state_overdue_and_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "config.yaml"))
    assert main(["db", "upgrade", "-c", config]) == 0
    db = keyed_database(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}")

    async def seed() -> tuple[str, str]:
        try:
            await _seed(db)
            engine = _engine(db, admin_token=False, mode="admin-approval")
            denied = await engine.request("rcAlice", OFFICER)
            await engine.deny(denied, "dpo", "identity not confirmed")
            late = await engine.request("rcAlice", OFFICER, jurisdiction=Jurisdiction.CCPA)
            async with db.sessions.begin() as session:  # received 60 days ago: overdue
                await session.execute(
                    update(ErasureRequestRow)
                    .where(ErasureRequestRow.id == late)
                    .values(
                        received_ms=ErasureRequestRow.received_ms - 60 * DAY,
                        due_ms=ErasureRequestRow.due_ms - 60 * DAY,
                        receipt_due_ms=ErasureRequestRow.receipt_due_ms - 60 * DAY,
                    )
                )
            return denied, late
        finally:
            await db.close()

    denied, late = asyncio.run(seed())
    capsys.readouterr()
    base = ["privacy", "list", "-c", config, "--format", "json"]

    assert main(base) == 0
    everything = {r["id"]: r for r in _json(capsys)}
    assert everything.keys() == {denied, late}
    assert everything[denied]["state"] == "denied" and everything[denied]["overdue"] is False
    assert everything[late]["overdue"] is True and everything[late]["receipt_overdue"] is True
    assert everything[late]["jurisdiction"] == "ccpa" and everything[late]["due"]
    assert "rcAlice" not in json.dumps(everything)  # a listing names no one

    assert main([*base, "--state", "denied"]) == 0
    assert [r["id"] for r in _json(capsys)] == [denied]
    assert main([*base, "--overdue"]) == 0
    assert [r["id"] for r in _json(capsys)] == [late]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert main([*base, "--since", today]) == 0
    assert [r["id"] for r in _json(capsys)] == [denied]

    assert main(["privacy", "list", "-c", config, "--overdue"]) == 0
    text = capsys.readouterr().out
    assert late in text and "OVERDUE" in text and denied not in text
    assert main([*base, "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
