"""`bridge audit verify|export|subject` against a config on disk, as an operator runs them."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

from bridge.cli.commands_audit import ProgressBar
from bridge.cli.main import main
from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import TEST_PSEUDONYM_KEY
from tests.privacy.helpers import ALICE, BOB, BOT, SETTINGS, member, message

DAY = 86_400_000
T0 = 20_000 * DAY  # 2024-10-04


async def populate(url: str) -> None:
    db = Database(url, pseudonym_key=TEST_PSEUDONYM_KEY)
    ledger = DisclosureLedger(SETTINGS)
    try:
        await member(db, ledger, BOT, "join", T0)
        await member(db, ledger, BOB.user_id, "join", T0 + 1)
        await message(db, ledger, ALICE, T0 + 10)
        await message(db, ledger, ALICE, T0 + DAY + 5)
        for i in range(3):
            await AuditLog(db).record(audit.SUBJECT_LOOKUP, "web:token", 1, {"i": i})
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


def entries(config: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        return list(conn.execute("SELECT seq, kind FROM audit_entry ORDER BY seq"))


def test_an_untouched_chain_verifies(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "verify", "-c", str(config))
    assert code == 0
    assert "3 entries" in out


def test_changing_one_row_fails_verify_naming_that_entry(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        conn.execute("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2")
    code, out, err = run(capsys, "audit", "verify", "-c", str(config))
    assert code != 0
    assert "entry 2 (subject.lookup)" in err
    assert out == ""


def test_subject_lookup_from_the_cli_is_recorded(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "audit", "subject", "alice", "-c", str(config), "--format", "json")
    assert code == 0
    assert entries(config)[-1] == (4, "subject.lookup")
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        actor, details = conn.execute(
            "SELECT actor, details FROM audit_entry WHERE seq = 4"
        ).fetchone()
    assert actor.startswith("cli:")
    assert json.loads(details) == {"via": "cli", "recipients": 2}
    assert run(capsys, "audit", "verify", "-c", str(config))[0] == 0


def test_export_flows_csv_to_a_file_is_recorded_with_its_hash(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "flows.csv"
    code, out, err = run(
        capsys,
        "audit",
        "export",
        "--what",
        "flows",
        "--format",
        "csv",
        "-o",
        str(target),
        "-c",
        str(config),
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {(r["day"], r["recipient"], r["items"]) for r in rows} == {
        ("2024-10-04", "hs1.test", "1"),
        ("2024-10-04", "hs2.test", "1"),
        ("2024-10-05", "hs1.test", "1"),
        ("2024-10-05", "hs2.test", "1"),
    }
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert digest in err
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        kind, details = conn.execute(
            "SELECT kind, details FROM audit_entry ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert kind == "export.produced"
    assert json.loads(details)["sha256"] == digest
    assert json.loads(details)["rows"] == 4


def test_export_flows_json_matches_the_flows_command(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "audit", "export", "--what", "flows", "--format", "json", "-c", str(config)
    )
    assert code == 0
    exported = json.loads(out)["flows"]
    code, out, _ = run(capsys, "audit", "flows", "--format", "json", "-c", str(config))
    assert exported == json.loads(out)["flows"]


def test_export_requests_with_no_requests_writes_a_header(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "export", "--what", "requests", "-c", str(config))
    assert code == 0
    assert out.splitlines()[0].startswith("id,state,jurisdiction,subject")


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for out in (tty, pipe):
        bar = ProgressBar("exporting", out)
        bar(5, 10)
        bar(10, 10)
        bar.close()
    assert "[###############---------------]  50% 5/10" in tty.getvalue()
    assert "100% 10/10" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_verify_speaks_json_too(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "verify", "-c", str(config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["entries"] == 3 and data["fault"] is None
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        conn.execute("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2")
    code, out, _ = run(capsys, "audit", "verify", "-c", str(config), "--format", "json")
    assert code == 1
    assert "entry 2" in json.loads(out)["fault"]
