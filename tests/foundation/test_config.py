"""Each class of config mistake gets one clear line naming the key, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bridge.cli.main import main
from bridge.config import ConfigError, load_config
from tests.fixtures.bridge_config import EXAMPLE, write_config


def _edit(path: Path, section: str, key: str, value: object) -> None:
    yaml = YAML()
    data = yaml.load(path.read_text())
    if value is _DELETE:
        del data[section][key]
    else:
        data[section][key] = value
    with path.open("w") as f:
        yaml.dump(data, f)


_DELETE = object()


def test_valid_config_loads_into_frozen_typed_object(config_path: Path) -> None:
    config = load_config(config_path, environ={})
    assert config.homeserver.domain == "hs1.test"
    assert config.appservice.port == 29330
    assert config.bot_mxid == "@privacybot:hs1.test"
    with pytest.raises(AttributeError):
        config.homeserver.domain = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("homeserver", "domain", _DELETE, "homeserver.domain: is missing"),
        ("appservice", "port", "abc", "appservice.port: must be an integer, not a string"),
        ("homeserver", "verify_ssl", "yes", "homeserver.verify_ssl: must be true or false"),
        ("homeserver", "colour", "blue", "homeserver.colour: unknown key"),
        ("privacy", "mode", "anarchy", "privacy.mode: must be one of 'self-service'"),
        ("homeserver", "address", "https://matrix.example.com", "homeserver.address: still has"),
        (
            "appservice",
            "as_token",
            "This value is generated when generating the registration",
            "appservice.as_token: still has the example placeholder",
        ),
        ("rocketchat", "password", "CHANGE ME", "rocketchat.password: still has the example"),
        ("appservice", "port", 70000, "appservice.port: must be between 1 and 65535"),
        ("appservice", "ghost_localpart_template", "rc_user", "must contain {username}"),
        ("database", "url", "mysql://x", "database.url: must start with"),
        ("privacy", "admins", "alice", "privacy.admins: must be a list, not a string"),
        ("homeserver", "domain", "", "homeserver.domain: must not be empty"),
        # No key, no start: the shadows' session tokens are never stored in plain text.
        ("storage", "encryption_key", _DELETE, "storage.encryption_key: is missing"),
        ("storage", "encryption_key", None, "storage.encryption_key: is missing"),
        ("storage", "encryption_key", "short", "storage.encryption_key: must be at least 32"),
        (
            "storage",
            "encryption_key",
            "This value is generated when generating the registration",
            "storage.encryption_key: still has the example placeholder",
        ),
        ("storage", "done_retention_hours", 0, "storage.done_retention_hours: must be at least"),
        ("privacy", "retention_poll_seconds", 0, "privacy.retention_poll_seconds: must be at"),
    ],
)
def test_each_mistake_is_one_clear_line_and_exit_2(
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    value: object,
    message: str,
) -> None:
    _edit(config_path, section, key, value)
    assert main(["run", "-c", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, "exactly one line"
    assert "Traceback" not in err


def test_missing_file_and_broken_yaml_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("homeserver: [unclosed\n")
    assert main(["run", "-c", str(broken)]) == 2
    assert "is not valid YAML at line" in capsys.readouterr().err
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    assert main(["run", "-c", str(scalar)]) == 2
    assert "must contain a mapping" in capsys.readouterr().err


def test_unknown_section_is_named(config_path: Path) -> None:
    config_path.write_text(config_path.read_text() + "\nextras: {a: 1}\n")
    with pytest.raises(ConfigError, match=r"^extras: unknown key$"):
        load_config(config_path, environ={})


def test_secrets_from_environment_and_path_files(config_path: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "hs_token"
    secret_file.write_text("  token-from-file\n")
    _edit(config_path, "appservice", "hs_token_path", str(secret_file))
    config = load_config(config_path, environ={"BRIDGE_APPSERVICE_AS_TOKEN": "token-from-env"})
    assert config.appservice.hs_token == "token-from-file"
    assert config.appservice.as_token == "token-from-env"


def test_unreadable_secret_path_names_the_key(config_path: Path, tmp_path: Path) -> None:
    _edit(config_path, "rocketchat", "password_path", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"^rocketchat\.password_path: cannot read"):
        load_config(config_path, environ={})


def test_example_config_itself_is_refused_by_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-c", str(EXAMPLE)]) == 2
    assert "still has the example value" in capsys.readouterr().err


def test_rocketchat_credentials_must_be_complete(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", rocketchat={"username": None, "password": None})
    with pytest.raises(ConfigError, match="needs user_id and auth_token, or username and password"):
        load_config(path, environ={})
    path = write_config(tmp_path / "c.yaml", rocketchat={"user_id": "abc"})
    with pytest.raises(ConfigError, match="user_id and auth_token must be given together"):
        load_config(path, environ={})


@pytest.mark.parametrize("token", [None, "too-short"])
def test_webhook_intake_needs_a_strong_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], token: str | None
) -> None:
    path = write_config(
        tmp_path / "c.yaml", rocketchat={"intake": "webhook", "webhook_token": token}
    )
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rocketchat.webhook_token: is required when rocketchat.intake is webhook" in err
    assert err.count("\n") == 1


def test_webhook_intake_with_a_token_loads(tmp_path: Path) -> None:
    token = "webhook-token-for-tests-0123456789"  # noqa: S105
    path = write_config(
        tmp_path / "c.yaml", rocketchat={"intake": "webhook", "webhook_token": token}
    )
    config = load_config(path, environ={})
    assert (config.rocketchat.intake, config.rocketchat.webhook_token) == ("webhook", token)
