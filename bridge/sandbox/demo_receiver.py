"""The demo's second homeserver runs the reference erasure receiver (bridge receiver), as a
partner agency's admin would: with its admin's token, trusting only our bridge's bot."""

from __future__ import annotations

import os
from pathlib import Path

from ruamel.yaml import YAML

from bridge.sandbox.models import Homeserver, MatrixUser


def write_receiver_config(folder: Path, hs: Homeserver, admin: MatrixUser, peer: str) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    token = folder / "access_token"
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(admin.access_token)
    path = folder / "receiver.yaml"
    data = {
        "homeserver": {
            "address": hs.client_url,
            "domain": hs.server_name,
            "access_token_path": str(token),
        },
        "peers": [peer],
        # The sandbox's Synapse keeps Synapse's default.
        "redaction_retention_period": "7d",
        "audit_log": str(folder / "audit.jsonl"),
        "state_file": str(folder / "state.json"),
    }
    with path.open("w", encoding="utf-8") as f:
        YAML().dump(data, f)
    return path
