"""`bridge outbox dead|retry|drop` against a config on disk, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.storage.database import Database
from bridge.storage.outbox import NewAction
from tests.fixtures.bridge_config import write_config

KEY = b"ledger-hash-key-for-tests"  # privacy.hash_key of write_config


async def _dead_letters(url: str) -> list[int]:
    """Three actions: two dead letters in one room's queue, one still pending."""
    db = Database(url, pseudonym_key=KEY)
    try:
        await db.upgrade()
        ids = []
        for key, queue in (("rc-msg:a:0", "matrix:1"), ("mx-msg:$b", "rc:room"), ("later", "q")):
            await db.outbox.add(NewAction(key, "matrix.send", queue, {"content": "words"}))
            ids.append(int((await db.outbox.get(key) or {})["id"]))
        for action_id in ids[:2]:
            async with db.unit_of_work() as uow:
                await uow.outbox_dead(
                    action_id, "M_TOO_LARGE: event too large", "attempts", uses_attempt=True,
                    now=1_800_000_000_000,
                )  # fmt: skip
        return ids
    finally:
        await db.close()


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, list[int]]:
    path = write_config(tmp_path / "config.yaml")
    url = f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"
    return path, asyncio.run(_dead_letters(url))


async def _state(path: Path) -> tuple[dict[str, dict[str, object]], list[audit.AuditEntry]]:
    db = Database(f"sqlite+aiosqlite:///{path.parent / 'bridge.db'}", pseudonym_key=KEY)
    try:
        rows = {k: await db.outbox.get(k) or {} for k in ("rc-msg:a:0", "mx-msg:$b", "later")}
        return rows, await AuditLog(db).newest(limit=10)
    finally:
        await db.close()


def test_dead_lists_them_as_a_table_and_as_json(
    config: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = config
    assert main(["outbox", "dead", "-c", str(path)]) == 0
    table = capsys.readouterr().out
    assert "matrix:1" in table and "rc:room" in table and "M_TOO_LARGE" in table
    assert "later" not in table and "words" not in table
    assert main(["outbox", "dead", "-c", str(path), "--format", "json"]) == 0
    letters = json.loads(capsys.readouterr().out)["dead_letters"]
    assert sorted(x["id"] for x in letters) == ids[:2]
    first = letters[0]
    assert (first["kind"], first["attempts"], first["cause"]) == ("matrix.send", 1, "attempts")
    assert first["died"] == "2027-01-15T08:00:00Z" and first["retryable"] is True


def test_retry_queues_it_at_the_end_with_a_fresh_budget_on_record(
    config: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = config
    assert main(["outbox", "retry", str(ids[0]), "-c", str(path)]) == 0
    assert "queued again" in capsys.readouterr().out
    rows, entries = asyncio.run(_state(path))
    again = rows["rc-msg:a:0"]
    assert (again["status"], again["attempts"], again["payload"]) == (
        "pending",
        0,
        {"content": "words"},
    )
    assert int(str(again["id"])) > ids[2], "at the end: after everything queued before"
    assert entries[0].kind == audit.OUTBOX_RETRIED
    assert entries[0].details["action_id"] == ids[0] and entries[0].details["via"] == "cli"
    assert entries[0].actor.startswith("cli:")


def test_drop_keeps_the_key_and_no_payload_on_record(
    config: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = config
    assert main(["outbox", "drop", str(ids[1]), "-c", str(path)]) == 0
    assert "dropped" in capsys.readouterr().out
    rows, entries = asyncio.run(_state(path))
    assert (rows["mx-msg:$b"]["status"], rows["mx-msg:$b"]["payload"]) == ("dropped", {})
    assert entries[0].kind == audit.OUTBOX_DROPPED and entries[0].details["action_id"] == ids[1]
    # Dropped is final: neither retried nor dropped again.
    assert main(["outbox", "retry", str(ids[1]), "-c", str(path)]) == 1
    assert "is dropped, not a dead letter" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["retry", "999"], 1, "no outbox action 999"),
        (["drop", "999"], 1, "no outbox action 999"),
        (["retry", "PENDING"], 1, "is pending, not a dead letter"),
        (["dead", "--limit", "0"], 2, "--limit must be at least 1"),
    ],
)
def test_bad_ids_are_one_clear_line_and_change_nothing(
    config: tuple[Path, list[int]],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    error: str,
) -> None:
    path, ids = config
    args = [str(ids[2]) if a == "PENDING" else a for a in args]
    before = asyncio.run(_state(path))
    assert main(["outbox", *args, "-c", str(path)]) == code
    assert error in capsys.readouterr().err
    assert asyncio.run(_state(path)) == before


def test_a_non_numeric_id_is_a_usage_error(
    config: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = config
    with pytest.raises(SystemExit) as exit_:
        main(["outbox", "retry", "abc", "-c", str(path)])
    assert exit_.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
