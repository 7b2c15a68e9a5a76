"""``receiver.yaml``: what the receiver needs, checked in full before it starts."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bridge.config.load import ConfigError

_DURATION = re.compile(r"(\d+)([smhdwy]?)")
_UNITS_MS = {"": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNITS_MS |= {"w": 7 * 86_400_000, "y": 365 * 86_400_000}


@dataclass(frozen=True)
class ReceiverConfig:
    address: str  # the homeserver's client-server API base URL
    domain: str  # its server name
    # A server admin's access token: the receiver reads requests as this account (the
    # contact partners send them to) and calls the admin API with it.
    access_token: str
    peers: tuple[str, ...]  # Matrix ids whose requests are applied
    # The homeserver's redaction_retention_period in ms (null: never expunged).
    retention_ms: int | None
    audit_log: Path
    state_file: Path


def parse_duration(value: object, key: str) -> int | None:
    """Synapse's duration syntax: ``7d``, ``1h``, plain ms; null means forever."""
    if value is None:
        return None
    match = _DURATION.fullmatch(str(value).strip())
    if match is None or isinstance(value, bool):
        raise ConfigError(key, f"must be a duration like 7d or 12h, or null, got {value!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def _secret(section: Mapping[str, Any], env: Mapping[str, str]) -> str:
    token = env.get("RECEIVER_HOMESERVER_ACCESS_TOKEN") or section.get("access_token")
    path = section.get("access_token_path")
    if path is not None:
        try:
            token = Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(
                "homeserver.access_token_path", f"cannot read {path}: {e.strerror}"
            ) from None
    if not isinstance(token, str) or not token:
        raise ConfigError("homeserver.access_token", "is missing (or access_token_path)")
    return token


def _folder(value: object, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, "must be a file path")
    path = Path(value)
    if not path.parent.is_dir():
        raise ConfigError(key, f"its folder {path.parent} does not exist")
    return path


def load_receiver_config(path: Path, environ: Mapping[str, str] | None = None) -> ReceiverConfig:
    env = os.environ if environ is None else environ
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError("", f"cannot read {path}: {e.strerror}") from None
    except YAMLError:
        raise ConfigError("", f"{path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError("", f"{path} must contain a mapping")
    known = {"homeserver", "peers", "redaction_retention_period", "audit_log", "state_file"}
    for key in data:
        if key not in known:
            raise ConfigError(str(key), "unknown key")
    hs = data.get("homeserver")
    if not isinstance(hs, dict):
        raise ConfigError("homeserver", "is missing (address, domain, access_token)")
    address, domain = hs.get("address"), hs.get("domain")
    if not isinstance(address, str) or not address.startswith(("http://", "https://")):
        raise ConfigError("homeserver.address", "must be an http:// or https:// URL")
    if not isinstance(domain, str) or not domain:
        raise ConfigError("homeserver.domain", "is missing")
    peers = data.get("peers")
    if not isinstance(peers, list) or not peers:
        raise ConfigError("peers", "must list the Matrix ids whose requests are applied")
    for i, peer in enumerate(peers):
        if not isinstance(peer, str) or not re.fullmatch(r"@[^:\s]+:[^\s]+", peer):
            raise ConfigError(f"peers[{i}]", f"must be a Matrix user id, got {peer!r}")
    return ReceiverConfig(
        address=address.rstrip("/"),
        domain=domain,
        access_token=_secret(hs, env),
        peers=tuple(peers),
        retention_ms=parse_duration(
            data.get("redaction_retention_period", "7d"), "redaction_retention_period"
        ),
        audit_log=_folder(data.get("audit_log"), "audit_log"),
        state_file=_folder(data.get("state_file"), "state_file"),
    )
