"""`bridge partner list|show|set|remove` against a config on disk, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from tests.fixtures.bridge_config import write_config


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
