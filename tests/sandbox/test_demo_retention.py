"""In the demo started with ``--retention-minutes 1`` (three real homeservers, the
simulator and the bridge, each its own process): a Rocket.Chat message's copies are
redacted on every homeserver within 3 minutes of posting; the portal carries
``m.room.retention {"max_lifetime": 60000}`` on the remote servers; the expiry records a
status per recipient, and ``bridge privacy status`` gives each Synapse recipient an
expected purge date. A Matrix message posted at the same time is deleted on Rocket.Chat.

The 3 minutes are a deadline on a wait, not a measured speed: by the demo's arithmetic
(docs/retention.md, "In the demo") it takes about 60 s + one 10 s retention round plus
the redaction's trip over federation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.privacy import report as words
from tests.sandbox.test_demo import ROOT, DemoRun, DemoWorld, _call, demo_runs  # noqa: F401

pytestmark = pytest.mark.integration

BOUND_S = 180.0  # the "within 3 minutes", from posting


def _cli(config: Path, *argv: str) -> str:
    out = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bridge", *argv, "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def _admin_view(hs: dict[str, Any], room: str, event_id: str) -> dict[str, Any] | None:
    """The event as the homeserver's admin API serves it (its own copy, whoever asks)."""
    url = f"{hs['client_url']}/_synapse/admin/v1/rooms/{urllib.parse.quote(room)}/messages"
    headers = {"Authorization": f"Bearer {hs['admin']['access_token']}"}
    chunk = _call("GET", f"{url}?dir=b&limit=200", headers=headers)["chunk"]
    return next((e for e in chunk if e["event_id"] == event_id), None)


def _redacted(hs: dict[str, Any], room: str, event_id: str) -> bool:
    event = _admin_view(hs, room, event_id)
    return (
        event is not None
        and event["content"] == {}
        and "redacted_because" in event.get("unsigned", {})
    )


def _rc_texts(world: DemoWorld, who: dict[str, Any]) -> list[str]:
    route = f"channels.history?roomId={world.rc_room}&count=200"
    return [m.get("msg", "") for m in world.rc_call(who, "GET", route)["messages"]]


def _until(what: str, probe: Any, run: DemoRun, deadline: float) -> Any:
    while True:
        assert run.proc.poll() is None, f"demo exited:\n{run.text()}"
        if found := probe():
            return found
        assert time.monotonic() < deadline, f"{what}: not by the deadline\n{run.text()[-3000:]}"
        time.sleep(0.5)


def _expiries_after(config: Path, sent_ms: int) -> list[dict[str, Any]]:
    """The expiries cut off after ``sent_ms``, earliest cut-off first. The first holds
    the items sent from the previous expiry's cut-off up to its own: everything posted
    at ``sent_ms`` or a little later falls into it or one of the next."""
    listing = json.loads(_cli(config, "privacy", "list", "--format", "json"))["requests"]
    found = []
    for row in listing:
        if row["id"].startswith("ex-"):
            status = json.loads(_cli(config, "privacy", "status", row["id"], "--format", "json"))
            before = status["scope"]["before"]
            if before is not None and _ms(before) > sent_ms:
                found.append((_ms(before), status))
    return [status for _, status in sorted(found, key=lambda pair: pair[0])]


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _rocketchat_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in status["recipients"] if r["recipient"].startswith("rocketchat:")]


def test_demo_one_minute_retention_redacts_every_copy_within_three_minutes(
    tmp_path: Path,
    demo_runs: list[DemoRun],  # noqa: F811
) -> None:
    run = DemoRun(tmp_path, "--servers", "3", "--retention-minutes", "1")
    demo_runs.append(run)
    state = run.wait_state()
    assert state["rooms"][0]["retention_minutes"] == 1
    assert "retention: messages older than 1 min are redacted" in run.text()
    world = DemoWorld(state)
    homeservers = state["homeservers"]
    remotes = homeservers[1:]
    room = world.matrix_room
    alice = world.people["alice"]

    # Posted on each side at once: alice on Rocket.Chat, carol on the second homeserver.
    nonce = os.urandom(4).hex()
    said_rc, said_mx = f"kept one minute {nonce}", f"carol's one minute {nonce}"
    sent_ms = int(time.time() * 1000)
    posted = time.monotonic()
    deadline = posted + BOUND_S
    world.rc_call(alice, "POST", "chat.postMessage", {"roomId": world.rc_room, "text": said_rc})
    carol_url, carol = world.remotes[0]
    carol_event = _call(
        "PUT",
        f"{carol_url}/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/send/"
        f"m.room.message/{nonce}",
        {"msgtype": "m.text", "body": said_mx},
        {"Authorization": f"Bearer {carol['access_token']}"},
    )["event_id"]

    # The copy reaches hs2 and hs3 (the same event id on each).
    copies = [
        _until(f"the copy on {r[0]}", lambda r=r: world.copy_of(r, said_rc), run, deadline)
        for r in world.remotes
    ]
    event_id = copies[0]["event_id"]
    assert {c["event_id"] for c in copies} == {event_id}
    _until("carol's message on Rocket.Chat", lambda: said_mx in _rc_texts(world, alice), run,
           deadline)  # fmt: skip

    # Redacted on every homeserver, seen through each one's own admin API.
    for hs in homeservers:
        _until(
            f"the redaction on {hs['server_name']}",
            lambda hs=hs: _redacted(hs, room, event_id),
            run,
            deadline,
        )
    took = time.monotonic() - posted
    print(f"posted -> redacted on the last homeserver: {took:.1f} s")
    # carol's message: redacted on the other servers, and deleted on Rocket.Chat.
    for hs in (homeservers[0], homeservers[2]):
        _until("carol's redaction", lambda hs=hs: _redacted(hs, room, carol_event), run, deadline)
    _until("carol's Rocket.Chat copy deleted", lambda: said_mx not in _rc_texts(world, alice),
           run, deadline)  # fmt: skip
    # alice's original stays for Rocket.Chat's own pruning job (every 30 minutes).
    assert said_rc in _rc_texts(world, alice)

    # The portal carries the policy in Matrix's terms, as each remote server sees it.
    path = f"rooms/{urllib.parse.quote(room)}/state/m.room.retention"
    for remote in world.remotes:
        assert world.matrix(remote, path) == {"max_lifetime": 60_000}, remote[0]

    # The expiry that held alice's message, with a status per recipient; carol's (the
    # only Matrix-origin message in the demo's room) was deleted by the same or a later one.
    config = world.config_path

    def finished() -> list[dict[str, Any]] | None:
        found = _expiries_after(config, sent_ms)
        done = found and all(s["state"] == "done" for s in found)
        return found if done and any(_rocketchat_rows(s) for s in found) else None

    expiries = _until("the expiries done", finished, run, time.monotonic() + 60)
    status = expiries[0]
    assert status["subject"] == f"retention of {room}"
    rows = {r["recipient"]: r for r in status["recipients"] if r["room_id"] == room}
    for hs in remotes:
        row = rows[hs["server_name"]]
        assert row["status"] in [words.label(s) for s in words.FINAL_MATRIX], row
        assert row["expected_purge"].startswith("expected purge by "), row
    deleted = [r["status"] for s in expiries for r in _rocketchat_rows(s)]
    assert deleted == [words.label(words.DELETED)], deleted
    # As an operator reads it: an expected purge date for each Synapse recipient.
    text = _cli(config, "privacy", "status", status["id"])
    for hs in remotes:
        line = next(li for li in text.splitlines() if li.startswith(f"- {hs['server_name']} "))
        assert "expected purge by " in line and "(Synapse 1." in line, text
        assert line.endswith(", default 7 days)"), line
    assert run.terminate() == 0, run.text()


@pytest.mark.parametrize("minutes", ["0", "-1", "soon", "nan"])
def test_a_bad_retention_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, minutes: str
) -> None:
    out = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bridge", "demo", "--retention-minutes", minutes],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert out.returncode == 2, out.stderr
    assert "argument --retention-minutes:" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no demo directory made
