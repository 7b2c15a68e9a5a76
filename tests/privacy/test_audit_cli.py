"""`bridge audit …`: outputs in every format, the JSON against the shapes in docs/ledger.md."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bridge.cli.main import main
from bridge.config import load_config
from bridge.privacy.audit import SUBJECT_LOOKUP, AuditLog
from bridge.privacy.categories import Category, Origin
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.pseudonyms import existing_in, legacy_name
from bridge.storage.database import Database
from bridge.workers.housekeeping import shred_keys
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import TEST_PSEUDONYM_KEY, keyed_database
from tests.privacy.helpers import ALICE, BOB, BOT, SETTINGS, member, message

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
DAY = 86_400_000
T0 = 20_000 * DAY  # 2024-10-04T00:00:00Z


def documented_schema(name: str) -> dict[str, Any]:
    text = DOCS.read_text()
    match = re.search(rf"<!-- schema: {name} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"docs/ledger.md has no schema block for {name}"
    schema: dict[str, Any] = json.loads(match.group(1))
    return schema


async def populate(url: str) -> None:
    db = keyed_database(url)
    ledger = DisclosureLedger(SETTINGS)
    try:
        await member(db, ledger, BOT, "join", T0)
        await member(db, ledger, BOB.user_id, "join", T0 + 1)
        await message(db, ledger, ALICE, T0 + 10, categories=Category.MESSAGE_TEXT, mentions=(BOB,))
        await message(
            db, ledger, ALICE, T0 + DAY + 5, categories=Category.EDIT | Category.MESSAGE_TEXT
        )
        await message(db, ledger, BOB, T0 + DAY + 6, origin=Origin.MATRIX)
    finally:
        await db.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path / "config.yaml")
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    asyncio.run(populate(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_subject_json_matches_the_documented_shape(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "subject", "alice", "-c", str(config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, documented_schema("subject"))
    assert data["subject"]["rc_user_id"] == "rcAlice"
    by_server = {r["recipient"]: r for r in data["recipients"]}
    assert set(by_server) == {"hs1.test", "hs2.test"}
    assert by_server["hs2.test"]["items"] == 2
    assert by_server["hs2.test"]["categories"] == {"message_text": 2, "edit": 1}
    assert by_server["hs2.test"]["first"] == "2024-10-04T00:00:00.010Z"


def test_subject_table_and_csv(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "subject", "@bob:hs2.test", "-c", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["recipient", "kind", "items", "first", "last", "categories"]
    assert any(line.startswith("rocketchat:chat.test") for line in lines[2:])
    code, out, _ = run(
        capsys, "audit", "subject", "@bob:hs2.test", "-c", str(config), "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["recipient"]: r["categories"] for r in rows} == {
        "hs1.test": "message_text=1;mention=1",
        "hs2.test": "message_text=1;mention=1",
        "rocketchat:chat.test": "message_text=1",
    }


def test_server_json_matches_the_documented_shape(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["audit", "server", "hs2.test", "-c", str(config), "--format", "json"]
    code, out, _ = run(capsys, *args, "--limit", "2")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, documented_schema("server"))
    assert (data["items"], data["subjects"]) == (4, 2)
    assert [d["sent"] for d in data["disclosures"]] == [
        "2024-10-04T00:00:00.010Z",
        "2024-10-04T00:00:00.010Z",
    ]
    assert data["next"] is not None
    code, out, _ = run(capsys, *args, "--since", "2024-10-05")
    data = json.loads(out)
    assert data["items"] == 2 and data["next"] is None


def test_flows_per_day_in_json_and_csv(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "flows", "-c", str(config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, documented_schema("flows"))
    cells = {(f["day"], f["recipient"]): f["items"] for f in data["flows"]}
    assert cells == {
        ("2024-10-04", "hs1.test"): 2,
        ("2024-10-04", "hs2.test"): 2,
        ("2024-10-05", "hs1.test"): 2,
        ("2024-10-05", "hs2.test"): 2,
        ("2024-10-05", "rocketchat:chat.test"): 1,
    }
    code, out, _ = run(
        capsys, "audit", "flows", "-c", str(config), "--format", "csv", "--until", "2024-10-04"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["day"] for r in rows} == {"2024-10-04"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "flows", "--since", "04/10/2024"], "--since must be a date as YYYY-MM-DD"),
        (["audit", "server", "hs2.test", "--until", "2024-13-01"], "--until must be a date"),
        (
            ["audit", "flows", "--since", "2024-10-05", "--until", "2024-10-04"],
            "--until is before --since",
        ),
    ],
)
def test_bad_dates_are_one_line_errors_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "-c", str(config))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_unknown_subject_and_missing_config(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "subject", "@nobody:x.test", "-c", str(config))
    assert code == 1 and "no subject" in err
    code, _, err = run(capsys, "audit", "server", "nowhere.test", "-c", str(config))
    assert code == 1 and "no recipient" in err
    code, _, err = run(capsys, "audit", "flows", "-c", str(tmp_path / "missing.yaml"))
    assert code == 2 and err.startswith("config error:")


def _erase_alice(config: Path, *, shred: bool = False) -> str | None:
    """Pseudonymise alice's subject as an erasure does; with ``shred``, destroy her key
    as the shred job does when her retention ends. Returns her pseudonym before that."""
    loaded = load_config(config)

    async def go() -> str | None:
        db = Database.from_config(loaded)
        key = loaded.privacy.hash_key.encode()
        try:
            async with db.unit_of_work() as uow:
                ledger = DisclosureLedger(dataclasses.replace(SETTINGS, hash_key=key))
                assert await ledger.pseudonymise(uow, ALICE)
                await uow.person_keys.schedule_shred(["rcAlice"], T0)
            name = await existing_in(db, "rcAlice")
            if shred:
                assert await shred_keys(db, T0) == 1
            return name
        finally:
            await db.close()

    return asyncio.run(go())


def test_an_erased_subject_is_found_by_the_id_of_its_own_account(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _erase_alice(config)
    code, out, _ = run(capsys, "audit", "subject", "rcAlice", "-c", str(config), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    jsonschema.validate(data, documented_schema("subject"))
    subject = data["subject"]
    assert subject["rc_user_id"] is None and subject["erased_at"] is not None
    # The name her audit entries and her request log use, and the one older versions used.
    assert name is not None and subject["pseudonym"] == name
    key = load_config(config).privacy.hash_key.encode()
    assert subject["earlier_pseudonym"] == legacy_name(key, "rcAlice") != name
    # Only the id of her own account finds her: her username is gone with the erasure.
    code, _, err = run(capsys, "audit", "subject", "alice", "-c", str(config))
    assert code == 1 and "no subject" in err


def test_once_the_key_is_shredded_the_lookup_says_no_pseudonym_can_be_computed(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _erase_alice(config, shred=True)
    code, out, err = run(capsys, "audit", "subject", "rcAlice", "-c", str(config))
    assert code == 1 and out == ""
    assert "no pseudonym can be computed" in err and "shredded" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _lookups(path: Path) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        db = Database(f"sqlite+aiosqlite:///{path}", pseudonym_key=TEST_PSEUDONYM_KEY)
        try:
            entries = await AuditLog(db).newest(kind=SUBJECT_LOOKUP)
        finally:
            await db.close()
        return [dict(e.details) for e in reversed(entries)]

    return asyncio.run(read())


def test_cli_reads_that_name_people_are_audited_found_or_not(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "bridge.db"
    assert run(capsys, "audit", "subject", ALICE.user_id, "-c", str(config))[0] == 0
    assert run(capsys, "audit", "subject", "@nobody:x.test", "-c", str(config))[0] == 1
    code, _, _ = run(capsys, "privacy", "status", "er-00000000deadbeef", "-c", str(config))
    assert code != 0
    assert [(d["via"], d.get("found", True)) for d in _lookups(db_file)] == [
        ("cli", True),
        ("cli", False),
        ("cli privacy status", False),
    ]
