"""`bridge incident open`: from the ledger, who was affected and what went to the server;
a dry run sends nothing; a real run queues a notice per person and the erasure requests,
optionally denies; the report follows its published schema; every step is audited."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bridge.cli.main import main
from bridge.privacy.audit import AuditLog
from bridge.privacy.categories import Category
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partner_values import Contact
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, BOB, OTHER_ROOM, SETTINGS, member, message

KEY = b"ledger-hash-key-for-tests"  # privacy.hash_key of write_config
DAY = 86_400_000
T0 = 1_800_000_000_000


def schema() -> dict[str, Any]:
    text = resources.files("bridge.commands").joinpath("schemas/incident.schema.json").read_text()
    return dict(json.loads(text))


async def _seed(url: str) -> None:
    db = Database(url, pseudonym_key=KEY)
    try:
        await db.upgrade()
        ledger = DisclosureLedger(SETTINGS)
        await member(db, ledger, "@carol:hs2.test", "join", T0)
        await member(db, ledger, "@carol:hs2.test", "join", T0, room=OTHER_ROOM)
        await message(db, ledger, ALICE, T0 + 1)
        await message(
            db, ledger, ALICE, T0 + DAY + 1, categories=Category.MEDIA | Category.FILE_NAME
        )
        await message(db, ledger, ALICE, T0 + 2, room=OTHER_ROOM)
        await message(db, ledger, BOB, T0 + 3, mentions=(ALICE,))
    finally:
        await db.close()


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = write_config(tmp_path / "config.yaml")
    asyncio.run(_seed(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"))
    return str(path)


async def _state(config: str) -> tuple[list[dict[str, Any]], list[Any]]:
    db = Database(f"sqlite+aiosqlite:///{Path(config).parent / 'bridge.db'}", pseudonym_key=KEY)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT key, kind, payload FROM outbox")).all()
        return [{"key": r[0], "kind": r[1], "payload": json.loads(r[2])} for r in rows], list(
            await AuditLog(db).newest(limit=20)
        )
    finally:
        await db.close()


def test_dry_run_lists_people_with_counts_matching_audit_server_and_sends_nothing(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "server", "hs2.test", "-c", config, "--format", "json"]) == 0
    server = json.loads(capsys.readouterr().out)
    assert (
        main(["incident", "open", "hs2.test", "--dry-run", "--format", "json", "-c", config]) == 0
    )
    out = capsys.readouterr()
    report = json.loads(out.out)
    jsonschema.validate(report, schema())
    assert report["records"]["approximate_number"] == server["items"]
    assert report["data_subjects"]["approximate_number"] == server["subjects"]
    assert report["categories"] == server["categories"]
    alice = next(p for p in report["people"] if p["username"] == "alice")
    assert alice["items"] == 4 and alice["side"] == "rocketchat"
    assert alice["categories"] == {"file_name": 1, "media": 1, "mention": 1, "message_text": 2}
    assert sorted(alice["rooms"].values()) == [1, 3] and len(alice["days"]) == 2
    assert "dry run: nothing sent yet" in report["measures_taken"]
    assert "incident: ledger:" in out.err
    actions, entries = asyncio.run(_state(config))
    assert actions == []
    assert [e.kind for e in entries][:1] == ["incident.opened"]
    assert entries[0].details["dry_run"] is True
    assert main(["incident", "list", "--format", "json", "-c", config]) == 0
    [listed] = json.loads(capsys.readouterr().out)["incidents"]
    assert listed["dry_run"] is True and listed["id"] == entries[0].details["incident"]
    assert listed["subjects"] == server["subjects"] and listed["items"] == server["items"]


def test_table_names_who_would_be_told(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incident", "open", "hs2.test", "--dry-run", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "would be told" in out and "message_text=2" in out


def test_a_real_run_queues_notices_requests_erasure_and_denies(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def register() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}", pseudonym_key=KEY)
        try:
            await PartnerRegister(db).set(
                "hs2.test",
                PartnerChanges(organisation="Agency Two", lawful_basis="public_task",
                               contacts=(Contact(matrix_id="@admin:hs2.test"),)),
                "cli:test",
            )  # fmt: skip
        finally:
            await db.close()

    assert main(["incident", "open", "hs2.test", "--deny", "-c", config]) == 1
    assert "register it" in capsys.readouterr().err
    assert asyncio.run(_state(config))[0] == []
    asyncio.run(register())
    out = tmp_path / "report"
    assert main(["incident", "open", "hs2.test", "--deny", "--out", str(out), "-c", config]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    jsonschema.validate(report, schema())
    assert report["organisation"] == "Agency Two"
    assert "# Personal data breach report: hs2.test" in out.with_suffix(".md").read_text()
    actions, entries = asyncio.run(_state(config))
    notify = [a["payload"] for a in actions if a["kind"] == "incident.notify"]
    alice = next(p for p in notify if p["username"] == "alice")
    assert alice["side"] == "rocketchat" and "received 4 item(s)" in alice["text"]
    assert any(p["user_id"] == "@admin:hs2.test" and "Erasure request" in p["text"] for p in notify)
    assert any(a["kind"] == "partner.enforce" for a in actions) is False  # no portals here
    kinds = [e.kind for e in entries]
    for kind in ("incident.opened", "incident.people_notified", "incident.erasure_requested"):
        assert kind in kinds
    assert entries[0].kind == "partner.set" and entries[0].details["policy"] == "deny"
    # The incident is recorded with its steps; list and show give its progress.
    opened = next(e for e in entries if e.kind == "incident.opened")
    incident = opened.details["incident"]
    assert {a["key"].split(":")[1] for a in actions if a["key"].startswith("incident:")} == {
        incident
    }
    capsys.readouterr()
    assert main(["incident", "list", "--format", "json", "-c", config]) == 0
    [listed] = json.loads(capsys.readouterr().out)["incidents"]
    assert listed["id"] == incident and listed["deny_asked"] is True
    assert listed["people_notices"]["pending"] == len(report["people"]) == 2
    assert listed["requests"]["pending"] == 1
    assert main(["incident", "show", incident, "-c", config]) == 0
    shown = capsys.readouterr().out
    assert f"Incident {incident}: hs2.test (Agency Two)" in shown
    assert "Notices to people: 2 pending" in shown and "recorded in register version" in shown
    assert "alice" not in shown and "@admin:hs2.test" not in shown
    assert main(["incident", "show", "in-0000000000000000", "-c", config]) == 1
    assert "no incident" in capsys.readouterr().err


def test_bad_arguments_change_nothing(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incident", "open", "bad name", "-c", config]) == 2
    assert main(["incident", "open", "hs2.test", "--since", "yesterday", "-c", config]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert asyncio.run(_state(config)) == ([], [])
