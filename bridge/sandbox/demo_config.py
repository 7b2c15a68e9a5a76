"""The demo bridge's config, written the way an operator would: from config.example.yaml.

The example file is the documented contract (every key, with comments); the demo copies
it, replaces the example values, and then runs the same registration logic as
``bridge generate-registration``, so the demo exercises the real set-up path.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bridge.config import Config, load_config
from bridge.config.registration import generate_registration

# config.example.yaml lives at the top of the source tree, beside the package.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.yaml"
# Seconds between the bridge's reads of Rocket.Chat's retention policies (60 by default).
# A read costs a few settings and one rooms.info; at 10 s a message under a one-minute
# policy is redacted everywhere about 60 + 10 s after it was relayed (docs/retention.md,
# "In the demo"), and a policy set on the running demo shows within seconds.
DEMO_RETENTION_POLL_SECONDS = 10


@dataclass(frozen=True)
class DemoBridgeSettings:
    """What the demo decides about its bridge before anything is running."""

    homeserver_url: str
    server_name: str
    port: int
    database_url: str
    rocketchat_url: str
    rocketchat_username: str
    rocketchat_password: str = field(repr=False)
    privacy_admins: tuple[str, ...] = ()
    # The local mail sink (bridge.sandbox.mail_sink) the bridge's mail goes to.
    mail_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def write_bridge_config(
    path: Path, settings: DemoBridgeSettings, *, example: Path = EXAMPLE_CONFIG
) -> Path:
    """Copy the example config with every example value replaced by the demo's."""
    if not example.is_file():
        raise FileNotFoundError(
            f"{example} not found: the demo runs from a source checkout (pip install -e '.[demo]')"
        )
    yaml = _yaml()
    data = yaml.load(example.read_text(encoding="utf-8"))
    _update(
        data,
        homeserver={"address": settings.homeserver_url, "domain": settings.server_name},
        appservice={"address": settings.url, "hostname": "127.0.0.1", "port": settings.port},
        database={"url": settings.database_url},
        rocketchat={
            "url": settings.rocketchat_url,
            "username": settings.rocketchat_username,
            "password": settings.rocketchat_password,
        },
        privacy={
            "admins": list(settings.privacy_admins),
            "retention_poll_seconds": DEMO_RETENTION_POLL_SECONDS,
        },
    )
    if settings.mail_port is not None:
        # Plain SMTP is acceptable only because the sink listens on loopback.
        _update(
            data,
            mail={
                "host": "127.0.0.1",
                "port": settings.mail_port,
                "security": "none",
                "sender": "privacy-bridge@agency-one.example",
            },
        )
    _dump(yaml, data, path)
    return path


def register_bridge(config_path: Path, registration_path: Path) -> Config:
    """``bridge generate-registration``: fresh tokens into the config, plus the registration."""
    generate_registration(
        config_path, load_config(config_path, allow_example_values=True), registration_path
    )
    return load_config(config_path)


def finish_bridge_config(
    path: Path,
    *,
    rooms: Iterable[str],
    admin_token: str | None = None,
) -> Config:
    """Add what is only known once the sandbox runs: the rooms to bridge, the admin token
    (and the dashboard's and the metrics' tokens).

    Rooms map to null, so the bridge creates each portal's Matrix room at start-up.
    """
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    _update(
        data,
        bridge={"rooms": dict.fromkeys(rooms)},
        homeserver={"admin_token": admin_token},
        # The privacy officer's dashboard, over plain http on loopback.
        web={
            "enabled": True,
            "admin_token": secrets.token_hex(24),
            "session_secret": secrets.token_hex(24),
            "cookie_secure": False,
        },
        # Metrics name every recipient server: the demo shows them behind a token too.
        metrics={"bearer_token": secrets.token_hex(24)},
    )
    _dump(yaml, data, path)
    return load_config(path)


def _update(data: Any, **sections: Mapping[str, Any]) -> None:
    for section, values in sections.items():
        data[section].update(values)


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: the demo config keeps the example's comments
    yaml.preserve_quotes = True
    return yaml


def _dump(yaml: YAML, data: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    tmp.chmod(0o600)
    tmp.replace(path)
