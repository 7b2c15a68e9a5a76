"""`bridge audit export --what processing`: the Art. 30(1)(d)(e) record from the register
and the ledger: recipients by category and organisation, third-country transfers,
retention promises; unregistered recipients are named as such."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.privacy.audit import AuditLog
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, SETTINGS, member, message

KEY = b"ledger-hash-key-for-tests"


async def _seed(url: str) -> None:
    db = Database(url, pseudonym_key=KEY)
    try:
        await db.upgrade()
        ledger = DisclosureLedger(SETTINGS)
        await member(db, ledger, "@carol:hs2.test", "join", 1_000)
        await member(db, ledger, "@dave:hs3.test", "join", 1_000)
        await message(db, ledger, ALICE, 2_000)
        await PartnerRegister(db).set(
            "hs2.test",
            PartnerChanges(organisation="Agency Two", lawful_basis="public_task",
                           retention_days=90, jurisdiction="US", third_country=True,
                           safeguard="standard contractual clauses"),
            "cli:test",
        )  # fmt: skip
    finally:
        await db.close()


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = write_config(tmp_path / "config.yaml")
    asyncio.run(_seed(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"))
    return str(path)


def test_processing_record_as_json(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "export", "--what", "processing", "--format", "json", "-c", config]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["recipient"]: r for r in data["processing"]}
    two, three = rows["hs2.test"], rows["hs3.test"]
    assert (two["organisation"], two["retention_days"], two["items"]) == ("Agency Two", 90, 1)
    assert two["lawful_basis"] == "public_task" and two["categories"] == {"message_text": 1}
    assert three["registered"] is False and three["items"] == 1
    assert data["recipients_by_category"]["message_text"] == [
        "Agency Two", "hs3.test (not in the partner register)"
    ]  # fmt: skip
    assert data["third_country_transfers"] == [
        {"recipient": "hs2.test", "organisation": "Agency Two", "jurisdiction": "US",
         "safeguard": "standard contractual clauses"}
    ]  # fmt: skip
    assert data["retention_promises"] == {"hs2.test": 90}
    assert "hs3.test" in data["unregistered_recipients"]
    assert "hs2.test" not in data["unregistered_recipients"]


def test_processing_record_as_csv_is_audited(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "export", "--what", "processing", "--format", "csv", "-c", config]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    two = next(r for r in rows if r["recipient"] == "hs2.test")
    assert two["third_country"] == "true" and two["categories"] == "message_text=1"

    async def last() -> str:
        db = Database(f"sqlite+aiosqlite:///{Path(config).parent / 'bridge.db'}", pseudonym_key=KEY)
        try:
            entry = (await AuditLog(db).newest(limit=1))[0]
            return f"{entry.kind}:{entry.details['what']}"
        finally:
            await db.close()

    assert asyncio.run(last()) == "export.produced:processing"
