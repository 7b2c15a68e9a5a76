"""The receiver's own records: an append-only audit log (one JSON line per decision) and
a small state file (the sync position, requests not yet applied)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bridge.storage.common import now_ms


class Journal:
    def __init__(self, audit_log: Path, state_file: Path) -> None:
        self._log = audit_log
        self._state = state_file

    def record(self, **entry: Any) -> None:
        """Append one line (never message content: ids, counts, reasons)."""
        line = json.dumps({"at_ms": now_ms(), **entry}, sort_keys=True) + "\n"
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def answered(self) -> dict[str, dict[str, Any]]:
        """request id -> the final response content sent for it (for replays)."""
        found: dict[str, dict[str, Any]] = {}
        if not self._log.exists():
            return found
        with self._log.open(encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                if entry.get("event") == "answered":
                    found[str(entry["request_id"])] = dict(entry["response"])
        return found

    def load_state(self) -> dict[str, Any]:
        if not self._state.exists():
            return {"next_batch": None, "pending": []}
        state: dict[str, Any] = json.loads(self._state.read_text(encoding="utf-8"))
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        tmp = self._state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._state)
