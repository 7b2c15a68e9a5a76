"""Data at rest: a processed inbox event or outbox action keeps no body, file or token."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bridge.pipeline.contracts import RetryLater, SkipEvent
from bridge.sandbox.demo_state import write_state_file
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.inbox import StoredEvent
from bridge.storage.outbox import Action, NewAction
from bridge.workers.inbox import InboxWorker
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.inbox import body, records

MARKER = "zebra-quartz-7731"
TOKEN = "shadow-session-token-5190"


async def _raw(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql))]


async def test_a_processed_inbox_event_keeps_its_id_but_not_its_body(db: Database) -> None:
    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        assert MARKER in body(event.payload)["content"]["body"]  # the handler still sees it all
        if event.event_id == "$skip":
            raise SkipEvent("not for us")
        if event.event_id == "$later":
            raise RuntimeError("not yet")

    events = [
        {"event_id": e, "type": "m.room.message", "content": {"body": f"{MARKER} {e}"}}
        for e in ("$done", "$skip", "$later")
    ]
    await db.inbox.store_events("matrix", records(events))
    await InboxWorker(db, handler).drain_once()
    rows = dict(
        (r[0], r[1:]) for r in await _raw(db, "SELECT event_id, status, payload FROM inbox_event")
    )
    assert rows["$done"] == ("done", "{}")
    assert rows["$skip"] == ("skipped", "{}")
    # Not yet processed: the event must survive a restart, body and all.
    assert rows["$later"][0] == "pending" and MARKER in rows["$later"][1]
    # A replay of a processed event is still recognised by its id.
    assert await db.inbox.store_events("matrix", records(events[:1])) == 0


async def test_an_inbox_event_given_up_keeps_its_error_but_not_its_body(db: Database) -> None:
    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        raise RuntimeError("handler bug")

    await db.inbox.store_events(
        "matrix", records([{"event_id": "$bad", "content": {"body": MARKER}}])
    )
    await InboxWorker(db, handler, max_attempts=1).drain_once()
    rows = await _raw(db, "SELECT status, payload, last_error FROM inbox_event")
    assert rows == [("failed", "{}", "RuntimeError: handler bug")]


async def test_a_done_outbox_action_keeps_its_key_but_not_its_payload_or_result(
    db: Database,
) -> None:
    seen: list[dict[str, Any] | None] = []

    async def run(action: Action) -> dict[str, Any]:
        if action.key == "later":
            raise RetryLater("not yet", retry_after=3600)
        return {"auth_token": TOKEN, "event_id": "$x"}

    async def on_done(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        seen.append(result)  # the hook still reads the result in the done transaction

    for key in ("now", "later"):
        await db.outbox.add(NewAction(key, "send", key, payload={"body": f"{MARKER} {key}"}))
    await OutboxWorker(db, {"send": run}, on_done={"send": on_done}).drain_once()
    assert seen == [{"auth_token": TOKEN, "event_id": "$x"}]
    rows = dict(
        (r[0], r[1:])
        for r in await _raw(db, "SELECT key, status, payload, result, last_error FROM outbox")
    )
    assert rows["now"] == ("done", "{}", None, None)
    assert rows["later"][0] == "pending" and MARKER in rows["later"][1]
    # The key still makes a second enqueue of the same effect a no-op.
    assert await db.outbox.add(NewAction("now", "send", "now", payload={"body": "x"})) is False


async def test_a_fresh_sqlite_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    old = os.umask(0o022)  # a typical umask: files 0644, readable by every local user
    try:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await db.inbox.store_events(
            "matrix", records([{"event_id": "$x", "content": {"body": MARKER}}])
        )
        async with db.sessions() as session:  # a reader keeps the -wal and -shm open
            await session.execute(text("SELECT count(*) FROM inbox_event"))
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        await db.close()
    finally:
        os.umask(old)
    assert modes == {"bridge.db": 0o600, "bridge.db-wal": 0o600, "bridge.db-shm": 0o600}


async def test_an_existing_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    await db.close()
    path.chmod(0o644)  # as an older version left it
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.ping()
    await db.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_bridge_command_creates_private_files(tmp_path: Path) -> None:
    # `bridge` itself (the console script and python -m bridge) sets umask 077, so any
    # file it writes (an export, a generated config, a log redirected by it) is private.
    out = tmp_path / "umask.txt"
    code = (
        "import os, sys\n"
        "import bridge.cli.main as m\n"
        "m.main = lambda argv=None: (open(sys.argv[1], 'w').close(), 0)[1]\n"
        "m.entry()\n"
    )
    subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code, str(out)], check=False, env={**os.environ}
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_demo_state_file_and_its_folder_are_private(tmp_path: Path) -> None:
    state = tmp_path / "demo" / "state.json"  # holds every sandbox credential
    write_state_file(state, {"token": TOKEN})
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
