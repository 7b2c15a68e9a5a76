"""generate-registration writes a valid registration and stores its tokens in the config."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bridge.cli.main import main
from bridge.config import load_config
from bridge.config.model import PLACEHOLDER_TOKEN
from bridge.config.registration import build_registration
from tests.fixtures.bridge_config import EXAMPLE, ROOT


def test_registration_has_tokens_namespaces_and_no_rate_limit(
    config_path: Path, tmp_path: Path
) -> None:
    reg_path = tmp_path / "registration.yaml"
    assert main(["generate-registration", "-c", str(config_path), "-r", str(reg_path)]) == 0

    reg = YAML(typ="safe").load(reg_path.read_text())
    config = load_config(config_path, environ={})
    assert reg["as_token"] == config.appservice.as_token
    assert reg["hs_token"] == config.appservice.hs_token
    assert reg["as_token"] != reg["hs_token"]
    assert len(reg["as_token"]) >= 32
    assert reg["sender_localpart"] == "privacybot"
    assert reg["rate_limited"] is False
    assert reg["url"] == "http://127.0.0.1:29330"
    (users,) = reg["namespaces"]["users"]
    (aliases,) = reg["namespaces"]["aliases"]
    assert users["exclusive"] is True and aliases["exclusive"] is True
    assert re.fullmatch(users["regex"], "@rc_alice:hs1.test")
    assert not re.fullmatch(users["regex"], "@alice:hs1.test")
    assert not re.fullmatch(users["regex"], "@rc_alice:hs1Xtest"), "the dot is escaped"
    assert re.fullmatch(aliases["regex"], "#rc_general:hs1.test")


def test_tokens_are_stored_back_keeping_comments(config_path: Path, tmp_path: Path) -> None:
    before = config_path.read_text()
    assert "# Tokens shared with the homeserver." in before
    main(["generate-registration", "-c", str(config_path), "-r", str(tmp_path / "r.yaml")])
    after = config_path.read_text()
    assert "# Tokens shared with the homeserver." in after
    assert "as-token-for-tests" not in after
    assert "admin_token: null" in after, "explicit nulls stay explicit"


def test_generate_registration_fills_in_the_storage_key_once(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    shutil.copy(EXAMPLE, config)
    main(["generate-registration", "-c", str(config), "-r", str(tmp_path / "r.yaml")])
    key = YAML(typ="safe").load(config.read_text())["storage"]["encryption_key"]
    assert key != PLACEHOLDER_TOKEN and len(key) >= 32
    main(["generate-registration", "-c", str(config), "-r", str(tmp_path / "r.yaml")])
    assert YAML(typ="safe").load(config.read_text())["storage"]["encryption_key"] == key


def test_a_config_from_before_the_storage_key_gets_one(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    yaml = YAML()
    data = yaml.load(EXAMPLE.read_text())
    del data["storage"]  # written by a version that had no such section
    with config.open("w") as f:
        yaml.dump(data, f)
    assert main(["generate-registration", "-c", str(config), "-r", str(tmp_path / "r.yaml")]) == 0
    key = YAML(typ="safe").load(config.read_text())["storage"]["encryption_key"]
    assert key != PLACEHOLDER_TOKEN and len(key) >= 32


def test_generating_twice_rotates_tokens(config_path: Path, tmp_path: Path) -> None:
    reg = tmp_path / "r.yaml"
    main(["generate-registration", "-c", str(config_path), "-r", str(reg)])
    first = YAML(typ="safe").load(reg.read_text())["as_token"]
    main(["generate-registration", "-c", str(config_path), "-r", str(reg)])
    assert YAML(typ="safe").load(reg.read_text())["as_token"] != first


def test_committed_registration_is_what_the_example_config_produces(tmp_path: Path) -> None:
    example = tmp_path / "config.yaml"
    shutil.copy(EXAMPLE, example)
    reg = tmp_path / "registration.yaml"
    assert main(["generate-registration", "-c", str(example), "-r", str(reg)]) == 0
    generated = YAML(typ="safe").load(reg.read_text())
    generated["as_token"] = generated["hs_token"] = PLACEHOLDER_TOKEN
    committed = YAML(typ="safe").load((ROOT / "registration.yaml").read_text())
    assert generated == committed


def test_broken_config_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("homeserver: {}\n")
    reg = tmp_path / "r.yaml"
    assert main(["generate-registration", "-c", str(bad), "-r", str(reg)]) == 2
    assert not reg.exists()
    assert "config error:" in capsys.readouterr().err


def test_build_registration_escapes_template_literals(config_path: Path) -> None:
    config = load_config(config_path, environ={})
    reg = build_registration(config, "a", "b")
    assert reg["namespaces"]["users"][0]["regex"] == r"@rc_.*:hs1\.test"
