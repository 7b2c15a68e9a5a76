"""`bridge partner list|show|set|remove` against a config on disk, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.privacy.audit import AuditEntry, AuditLog
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config

KEY = b"ledger-hash-key-for-tests"  # privacy.hash_key of write_config


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = write_config(tmp_path / "config.yaml")
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    return str(path)


def _set(config: str, *args: str) -> int:
    return main(["partner", "set", "-c", config, *args])


def test_set_list_show_remove(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    two = ["hs2.test", "--organisation", "Agency Two", "--lawful-basis", "public_task"]
    two += ["--contact", "@admin:hs2.test", "--contact", "dpo@hs2.test", "--retention-days"]
    two += ["30", "--jurisdiction", "fr", "--policy", "minimise"]
    assert _set(config, *two) == 0
    assert "saved (register version 1)" in capsys.readouterr().out
    assert _set(config, "hs3.test", "--organisation", "Agency Three", "--lawful-basis",
                "contract", "--policy", "deny") == 0  # fmt: skip
    capsys.readouterr()

    assert main(["partner", "list", "-c", config]) == 0
    table = capsys.readouterr().out
    assert "Agency Two" in table and "minimise" in table and "FR" in table
    assert "mailto:dpo@hs2.test" in table and "deny" in table

    assert main(["partner", "list", "-c", config, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["register_version"] == 2
    assert [p["server"] for p in listed["partners"]] == ["hs2.test", "hs3.test"]
    two = listed["partners"][0]
    assert two["contacts"] == [{"matrix_id": "@admin:hs2.test"}, {"email": "dpo@hs2.test"}]
    assert (two["retention_days"], two["policy"], two["third_country"]) == (30, "minimise", False)

    assert main(["partner", "show", "hs3.test", "-c", config, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["lawful_basis"] == "contract"
    assert main(["partner", "show", "hs3.test", "-c", config]) == 0
    assert "organisation:" in capsys.readouterr().out

    assert main(["partner", "remove", "hs3.test", "-c", config]) == 0
    assert main(["partner", "show", "hs3.test", "-c", config]) == 1
    assert "not in the partner register" in capsys.readouterr().err
    assert main(["partner", "remove", "hs3.test", "-c", config]) == 1


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["hs2.test", "--contact", "dpo@hs2..test"], "e-mail address"),
        (["hs2.test", "--contact", "@Admin:hs2.test"], "Matrix id"),
        (["hs2 test", "--policy", "deny"], "server name"),
        (["hs2.test", "--jurisdiction", "France"], "jurisdiction"),
        (["hs2.test", "--third-country"], "safeguard"),
        (["hs2.test", "--contact", "@a:hs2.test", "--no-contacts"], "--no-contacts"),
    ],
)
def test_bad_values_are_refused_in_one_line_and_change_nothing(
    config: str, capsys: pytest.CaptureFixture[str], args: list[str], why: str
) -> None:
    assert _set(config, "hs2.test", "--organisation", "Agency Two", "--lawful-basis",
                "public_task") == 0  # fmt: skip
    assert main(["partner", "show", "hs2.test", "-c", config, "--format", "json"]) == 0
    capsys.readouterr()
    before = main(["partner", "list", "-c", config, "--format", "json"])
    snapshot = capsys.readouterr().out

    assert _set(config, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("refused, nothing changed:") and why in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["partner", "list", "-c", config, "--format", "json"]) == before == 0
    assert capsys.readouterr().out == snapshot


def test_changes_are_in_the_audit_chain(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _set(config, "hs2.test", "--organisation", "Agency Two", "--lawful-basis",
                "public_task") == 0  # fmt: skip
    assert _set(config, "hs2.test", "--policy", "deny") == 0
    assert main(["partner", "remove", "hs2.test", "-c", config]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "-c", config]) == 0
    assert "3 entries" in capsys.readouterr().out


def _entries(config: str) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        db = Database(f"sqlite+aiosqlite:///{Path(config).parent / 'bridge.db'}", pseudonym_key=KEY)
        try:
            return list(reversed(await AuditLog(db).newest(limit=100)))
        finally:
            await db.close()

    return asyncio.run(read())


def test_reads_that_show_contacts_are_on_record_without_the_contacts(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _set(config, "hs2.test", "--organisation", "Agency Two", "--lawful-basis",
                "public_task", "--contact", "@admin:hs2.test", "--contact",
                "dpo@hs2.test") == 0  # fmt: skip
    assert _set(config, "hs3.test", "--organisation", "Agency Three", "--lawful-basis",
                "contract") == 0  # fmt: skip
    start = len(_entries(config))
    # No contact shown, nothing to record.
    assert main(["partner", "show", "hs3.test", "-c", config]) == 0
    assert main(["partner", "show", "hs9.test", "-c", config]) == 1
    assert len(_entries(config)) == start
    for argv in (["list"], ["list", "--format", "json"], ["show", "hs2.test"],
                 ["show", "hs2.test", "--format", "json"]):  # fmt: skip
        capsys.readouterr()
        assert main(["partner", *argv, "-c", config]) == 0
        assert "dpo@hs2.test" in capsys.readouterr().out
    reads = _entries(config)[start:]
    assert [e.kind for e in reads] == ["partner.contacts_read"] * 4
    assert [e.details["via"] for e in reads] == ["cli partner list"] * 2 + ["cli partner show"] * 2
    assert all(e.actor.startswith("cli:") for e in reads)
    assert reads[0].details == {"via": "cli partner list", "servers": 1, "contacts": 2}
    assert reads[2].details == {
        "via": "cli partner show", "servers": 1, "contacts": 2, "server": "hs2.test"
    }  # fmt: skip
    logged = json.dumps([dict(e.details) for e in reads])
    assert "admin" not in logged and "dpo" not in logged
    assert main(["audit", "verify", "-c", config]) == 0


def test_the_receiver_flag_is_set_and_cleared(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def receiver() -> bool:
        capsys.readouterr()
        assert main(["partner", "show", "hs2.test", "-c", config, "--format", "json"]) == 0
        return bool(json.loads(capsys.readouterr().out)["receiver"])

    assert _set(config, "hs2.test", "--organisation", "Agency Two", "--lawful-basis",
                "public_task") == 0  # fmt: skip
    assert receiver() is False
    assert _set(config, "hs2.test", "--receiver") == 0
    assert receiver() is True
    assert main(["partner", "list", "-c", config]) == 0
    assert "receiver" in capsys.readouterr().out.splitlines()[0]
    with pytest.raises(SystemExit) as refused:
        _set(config, "hs2.test", "--receiver", "--no-receiver")
    assert refused.value.code == 2 and receiver() is True
    assert _set(config, "hs2.test", "--no-receiver") == 0
    assert receiver() is False
