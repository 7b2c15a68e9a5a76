"""Generate the homeserver's appservice registration and store its tokens in the config.

The registration follows the appservice spec ("Registration"): exclusive namespaces for
the ghosts and portal aliases, the bot's localpart, and ``rate_limited: false`` because a
bridge relays many people through one appservice and must not be throttled as one user.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bridge.config.load import ConfigError
from bridge.config.model import PLACEHOLDER_TOKEN, Config


def build_registration(config: Config, as_token: str, hs_token: str) -> dict[str, Any]:
    domain = re.escape(config.homeserver.domain)
    appservice = config.appservice
    return {
        "id": appservice.id,
        "url": appservice.address,
        "as_token": as_token,
        "hs_token": hs_token,
        "sender_localpart": appservice.bot_username,
        "rate_limited": False,
        "namespaces": {
            "users": [
                {
                    "exclusive": True,
                    "regex": f"@{_template_regex(appservice.ghost_localpart_template)}:{domain}",
                }
            ],
            "aliases": [
                {
                    "exclusive": True,
                    "regex": f"#{_template_regex(appservice.alias_localpart_template)}:{domain}",
                }
            ],
            "rooms": [],
        },
    }


def _template_regex(template: str) -> str:
    """``rc_{username}`` → ``rc_.*``: the literal parts escaped, the placeholder a wildcard."""
    parts = re.split(r"\{[a-z]+\}", template)
    return ".*".join(re.escape(p) for p in parts)


def generate_registration(config_path: Path, config: Config, registration_path: Path) -> None:
    """Write fresh tokens into the config (keeping its comments) and the registration."""
    as_token = secrets.token_urlsafe(48)
    hs_token = secrets.token_urlsafe(48)
    yaml = YAML()  # round-trip mode: keeps comments, order and quoting of the operator's file
    yaml.preserve_quotes = True
    # Round-trip mode writes None as an empty value; keep the file's explicit "null".
    yaml.representer.add_representer(type(None), _represent_null)
    data = yaml.load(config_path.read_text(encoding="utf-8"))
    section = data.get("appservice")
    if section is None:
        raise ConfigError("appservice", "is missing")
    section["as_token"] = as_token
    section["hs_token"] = hs_token
    privacy = data.get("privacy")
    if privacy is not None and privacy.get("hash_key") in (None, PLACEHOLDER_TOKEN):
        # Generated once and then kept: rotating it would orphan earlier hashes.
        privacy["hash_key"] = secrets.token_urlsafe(32)
    storage = data.get("storage")
    if storage is None:
        data["storage"] = storage = {}
    if storage.get("encryption_key") in (None, PLACEHOLDER_TOKEN):
        # Also generated once: a new key only makes the shadows log in again, but there is
        # no reason to lose their sessions at every run of this command.
        storage["encryption_key"] = secrets.token_urlsafe(48)
    registration = build_registration(config, as_token, hs_token)
    # Write the registration first: if the config write then fails, re-running the command
    # simply generates new tokens for both; the reverse order could leave a config whose
    # tokens no homeserver knows.
    _atomic_write(registration_path, lambda f: YAML().dump(registration, f))
    _atomic_write(config_path, lambda f: yaml.dump(data, f))


def _represent_null(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        write(f)
    tmp.chmod(0o600)
    tmp.replace(path)
