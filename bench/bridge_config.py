"""A bridge config for benchmarks, written from config.example.yaml like an operator's."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.yaml"


def write_config(path: Path, **sections: dict[str, Any]) -> Path:
    """The example config with its example values replaced, then ``sections`` applied."""
    yaml = YAML()
    data = yaml.load(EXAMPLE.read_text(encoding="utf-8"))
    data["appservice"]["as_token"] = secrets.token_hex(16)
    data["appservice"]["hs_token"] = secrets.token_hex(16)
    data["privacy"]["hash_key"] = secrets.token_hex(32)
    data["storage"]["encryption_key"] = secrets.token_hex(32)
    data["rocketchat"]["password"] = secrets.token_hex(8)
    for section, values in sections.items():
        data.setdefault(section, {})
        data[section].update(values)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    path.chmod(0o600)
    return path
