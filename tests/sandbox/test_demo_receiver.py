"""In the demo (three homeservers), after alice's !privacy delete: hs2, whose admin runs
the erasure receiver, reaches "purged by recipient" with the receiver's detail within 3
minutes; hs3, without one, shows "delivered" and "admin notified"."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.test_demo import DemoRun, demo_runs  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def _status(config: str, request_id: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "bridge",
            "privacy",
            "status",
            request_id,
            "-c",
            config,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_demo_partner_with_a_receiver_reports_purged(
    tmp_path: Path,
    demo_runs: list[DemoRun],  # noqa: F811
) -> None:
    run = DemoRun(tmp_path, "--servers", "3", "--tour", "--yes")
    demo_runs.append(run)
    state = run.wait_state()
    deadline = time.monotonic() + 240
    while (found := re.search(r"bridge privacy status (er-[0-9a-f]+)", run.text())) is None:
        assert time.monotonic() < deadline and run.proc.poll() is None, run.text()
        time.sleep(0.5)
    request_id = found.group(1)
    config = state["bridge"]["config_path"]
    hs2, hs3 = (hs["server_name"] for hs in state["homeservers"][1:3])
    asked = time.monotonic()

    def rows(status: dict[str, Any], server: str) -> list[dict[str, Any]]:
        return [r for r in status["recipients"] if r["recipient"] == server]

    while True:
        status = _status(config, request_id)
        notice = next(r for r in rows(status, hs2) if r["room_id"] is None)
        if notice["status"] == "purged by recipient":
            break
        receiver_log = Path(config).parent.parent / "receiver.log"
        assert time.monotonic() - asked < 180, (notice, receiver_log.read_text()[-3000:])
        time.sleep(2)
    assert "redacted here" in notice["detail"], notice
    hs3_rows = rows(status, hs3)
    assert {r["status"] for r in hs3_rows if r["room_id"] is not None} == {"delivered"}, hs3_rows
    assert [r["status"] for r in hs3_rows if r["room_id"] is None] == ["admin notified"]
    assert run.terminate() == 0, run.text()
