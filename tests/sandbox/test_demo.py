"""``python -m bridge demo``, end to end, the way a developer runs it.

The demo is started as a subprocess through the CLI; a script that reads only the state
file (examples/demo_roundtrip.py) does the message round trip. The demo starts its own
cluster, so these tests use none of the session fixtures and stay synchronous.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load_config
from bridge.privacy.pseudonyms import existing_in
from bridge.sandbox.synapse_process import is_pid_alive
from bridge.storage.database import Database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_LIMIT_S = 120.0
STOP_LIMIT_S = 60.0


class DemoRun:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.output = tmp_path / "demo-output.txt"
        self.state_file = tmp_path / "state.json"
        argv = [sys.executable, "-m", "bridge", "demo", "--state-file", str(self.state_file)]
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self.began = time.monotonic()

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_state(self) -> dict[str, Any]:
        while not self.state_file.exists():
            assert self.proc.poll() is None, f"demo exited early:\n{self.text()}"
            assert time.monotonic() - self.began < START_LIMIT_S, f"no state file:\n{self.text()}"
            time.sleep(0.2)
        return json.loads(self.state_file.read_text())

    def wait_line(self, fragment: str) -> str:
        while fragment not in self.text():
            assert self.proc.poll() is None, f"demo exited early:\n{self.text()}"
            assert time.monotonic() - self.began < START_LIMIT_S, self.text()
            time.sleep(0.05)
        return next(line for line in self.text().splitlines() if fragment in line)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(STOP_LIMIT_S)


@pytest.fixture
def demo_runs(tmp_path: Path) -> Iterator[list[DemoRun]]:
    runs: list[DemoRun] = []
    yield runs
    for run in runs:  # a failed test must not leave a demo running
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)
            try:
                run.proc.wait(STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                run.proc.kill()


def processes_under(directory: str) -> list[int]:
    """Live processes whose command line or working directory is inside ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (directory in cmdline or cwd.startswith(directory)) and is_pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def assert_state_shape(state: dict[str, Any], servers: int) -> None:
    assert len(state["homeservers"]) == servers
    for hs in state["homeservers"]:
        assert hs["client_url"].startswith("http://")
        assert hs["admin"]["user_id"].startswith("@admin:")
        assert hs["admin"]["access_token"]
    # Normal users on the other agencies' servers only.
    assert state["homeservers"][0]["users"] == []
    for hs in state["homeservers"][1:]:
        [user] = hs["users"]
        assert user["user_id"].endswith(":" + hs["server_name"])
        assert user["password"] and user["access_token"]
    bridge = state["bridge"]
    assert bridge["bot_user_id"].endswith(":" + state["homeservers"][0]["server_name"])
    assert bridge["database_url"].startswith("sqlite+aiosqlite:///")
    assert Path(bridge["config_path"]).is_file()
    rc = state["rocketchat"]
    assert {"username", "user_id", "auth_token"} <= rc["admin"].keys()
    assert rc["bot_username"]
    assert all({"username", "user_id", "auth_token", "password"} <= u.keys() for u in rc["users"])
    [room] = state["rooms"]
    assert room["matrix_room_id"].startswith("!")
    assert room["rocketchat_room_id"]


def test_demo_round_trip_from_the_state_file_then_sigterm_stops_everything(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path, "--servers", "3")
    demo_runs.append(run)
    state = run.wait_state()
    print(
        f"demo start-up: {state['startup_seconds']:.1f} s inside the demo, "
        f"{time.monotonic() - run.began:.1f} s including interpreter start"
    )
    assert_state_shape(state, 3)
    with urllib.request.urlopen(state["bridge"]["url"] + "/_bridge/health/live") as response:
        assert response.status == 200
    # The privacy dashboard is on, behind the token printed for the developer.
    dashboard = state["bridge"]["dashboard"]
    servers = dashboard["url"] + "api/servers"
    authed = urllib.request.Request(
        servers, headers={"Authorization": f"Bearer {dashboard['admin_token']}"}
    )
    with urllib.request.urlopen(authed) as response:  # noqa: S310 - loopback http
        assert isinstance(json.loads(response.read())["servers"], list)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(servers)  # noqa: S310 - loopback http
    assert refused.value.code == 401
    # So are the metrics, which name every recipient server.
    metrics = state["bridge"]["metrics"]
    scrape = urllib.request.Request(
        metrics["url"], headers={"Authorization": f"Bearer {metrics['bearer_token']}"}
    )
    with urllib.request.urlopen(scrape) as response:  # noqa: S310 - loopback http
        assert b"bridge_outbox_pending" in response.read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(metrics["url"])  # noqa: S310 - loopback http
    assert refused.value.code == 401

    script = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo_roundtrip.py"), str(run.state_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert script.returncode == 0, script.stdout + script.stderr + run.text()
    assert "Matrix -> Rocket.Chat" in script.stdout
    assert "Rocket.Chat -> Matrix" in script.stdout

    assert run.terminate() == 0, run.text()
    assert [pid for pid in state["pids"] if is_pid_alive(pid)] == []
    # homeservers; simulator, bridge and the second homeserver's erasure receiver
    assert len(state["pids"]) == 3 + 3
    assert not Path(state["directory"]).exists()
    assert not run.state_file.exists()  # it described processes that are gone


def test_demo_with_keep_leaves_its_data_and_state_file(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path, "--servers", "1", "--keep")
    demo_runs.append(run)
    state = run.wait_state()
    assert_state_shape(state, 1)
    try:
        assert run.terminate() == 0, run.text()
        assert [pid for pid in state["pids"] if is_pid_alive(pid)] == []
        assert Path(state["bridge"]["config_path"]).is_file()
        assert Path(state["homeservers"][0]["log_path"]).is_file()
        assert run.state_file.exists()
    finally:
        shutil.rmtree(state["directory"], ignore_errors=True)


def test_sigterm_during_start_up_stops_what_was_started(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path, "--servers", "2")
    demo_runs.append(run)
    directory = run.wait_line("Starting the demo in").split(" in ", 1)[1].split(" ")[0]
    # Long enough for the homeservers and the simulator to have been launched.
    deadline = time.monotonic() + 20
    while not processes_under(directory) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(directory), f"nothing started under {directory}:\n{run.text()}"

    assert run.terminate() == 130, run.text()
    assert processes_under(directory) == []
    assert not Path(directory).exists()
    assert not run.state_file.exists()


# --- Rocket.Chat's own privacy actions in the demo -------------------------------------


def _call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.load(response)


def _poll(what: str, probe: Any, timeout: float) -> float:
    """Seconds until ``probe()`` held; fails after ``timeout``."""
    began = time.monotonic()
    while not probe():
        assert time.monotonic() - began < timeout, f"{what} not within {timeout:.0f} s"
        time.sleep(0.2)
    return time.monotonic() - began


class DemoWorld:
    """The demo's Rocket.Chat people and the other agencies' Matrix users, from its state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.rc = state["rocketchat"]
        self.people = {u["username"]: u for u in self.rc["users"]}
        room = state["rooms"][0]
        self.rc_room, self.matrix_room = room["rocketchat_room_id"], room["matrix_room_id"]
        self.remotes = [(hs["client_url"], hs["users"][0]) for hs in state["homeservers"][1:]]
        self.config_path = Path(state["bridge"]["config_path"])
        self.config = load_config(self.config_path)

    def rc_call(self, who: dict[str, Any], method: str, route: str, body: Any = None) -> Any:
        headers = {"X-User-Id": who["user_id"], "X-Auth-Token": who["auth_token"]}
        return _call(method, f"{self.rc['url']}/api/v1/{route}", body, headers)

    def matrix(self, remote: tuple[str, dict[str, Any]], path: str) -> Any:
        url, user = remote
        headers = {"Authorization": f"Bearer {user['access_token']}"}
        return _call("GET", f"{url}/_matrix/client/v3/{path}", headers=headers)

    def copy_of(self, remote: tuple[str, dict[str, Any]], body: str) -> dict[str, Any] | None:
        room = urllib.parse.quote(self.matrix_room)
        chunk = self.matrix(remote, f"rooms/{room}/messages?dir=b&limit=200")["chunk"]
        return next((e for e in chunk if e["content"].get("body") == body), None)

    def redacted(self, remote: tuple[str, dict[str, Any]], event_id: str) -> bool:
        room, event = urllib.parse.quote(self.matrix_room), urllib.parse.quote(event_id)
        return self.matrix(remote, f"rooms/{room}/event/{event}")["content"] == {}

    def displayname(self, remote: tuple[str, dict[str, Any]], user_id: str) -> str | None:
        profile = self.matrix(remote, f"profile/{urllib.parse.quote(user_id)}")
        name = profile.get("displayname")
        return name if isinstance(name, str) else None

    def pseudonym_of(self, account_id: str) -> str | None:
        """The person's pseudonym, computed with their key in the demo's database."""

        async def read() -> str | None:
            db = Database.from_config(self.config)
            try:
                return await existing_in(db, account_id)
            finally:
                await db.close()

        return asyncio.run(read())

    def finished_request_of(self, rc_user_id: str) -> dict[str, Any] | None:
        """The request log, as ``bridge audit export --what requests`` writes it."""
        out = subprocess.run(
            [sys.executable, "-m", "bridge", "audit", "export", "--what", "requests"]
            + ["--format", "json", "-c", str(self.config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        mine = (self.pseudonym_of(rc_user_id) or "").removeprefix("pseudonym:")
        rows = json.loads(out)
        rows = rows.get("requests", rows) if isinstance(rows, dict) else rows
        return next((r for r in rows if r["pseudonym"] == mine and r["state"] == "done"), None)


def test_demo_follows_deletions_and_renames_made_in_rocketchat(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path, "--servers", "3")
    demo_runs.append(run)
    state = run.wait_state()
    world = DemoWorld(state)
    alice, bob, admin = world.people["alice"], world.people["bob"], world.rc["admin"]
    said: dict[str, str] = {}
    for who in (alice, bob):
        said[who["username"]] = f"{who['username']} was here {time.monotonic_ns()}"
        body = {"roomId": world.rc_room, "text": said[who["username"]]}
        world.rc_call(who, "POST", "chat.postMessage", body)
    copies: dict[tuple[int, str], dict[str, Any]] = {}
    for i, remote in enumerate(world.remotes):
        for name, text in said.items():
            _poll(f"{name}'s message", lambda r=remote, t=text: world.copy_of(r, t), 30)
            copies[i, name] = world.copy_of(remote, text) or {}

    # A rename: on every remote homeserver within 10 s.
    ghost = copies[0, "alice"]["sender"]
    rename = {"userId": alice["user_id"], "data": {"name": "Alice R."}}
    world.rc_call(admin, "POST", "users.update", rename)
    for remote in world.remotes:
        took = _poll("the rename", lambda r=remote: world.displayname(r, ghost) == "Alice R.", 10)
        print(f"rename shown on {remote[0]} after {took:.1f} s")

    # An admin deletes alice; bob deletes his own account (the demo allows it).
    world.rc_call(admin, "POST", "users.delete", {"userId": alice["user_id"]})
    digest = hashlib.sha256(bob["password"].encode()).hexdigest()
    world.rc_call(bob, "POST", "users.deleteOwnAccount", {"password": digest})
    for (i, name), event in copies.items():
        remote, event_id = world.remotes[i], event["event_id"]
        _poll(f"{name}'s copy redacted", lambda r=remote, e=event_id: world.redacted(r, e), 60)
    for who in (alice, bob):
        uid = who["user_id"]
        _poll(f"{who['username']}'s request done", lambda u=uid: world.finished_request_of(u), 60)
        row = world.finished_request_of(uid)
        assert row is not None and row["requester_side"] == "rocketchat"
    assert run.terminate() == 0, run.text()


def _wait_until(what: str, probe: Any, run: DemoRun, limit_s: float = 60.0) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert run.proc.poll() is None, f"demo exited:\n{run.text()}"
        if found := probe():
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} within {limit_s:.0f} s:\n{run.text()}")


def test_tour_runs_unattended_then_a_killed_bridge_is_restarted_and_loses_nothing(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path, "--servers", "2", "--tour", "--yes")
    demo_runs.append(run)
    state = run.wait_state()
    # The tour: every step ran, with the real code, request id, status and dashboard.
    _wait_until(
        "the tour's end",
        lambda: "The tour is over" in run.text() or "The tour stopped" in run.text(),
        run,
        180,
    )
    text = run.text()
    assert "The tour stopped" not in text, text
    for fragment in (
        "Step 1 of 5",
        "alice sees the answer in Rocket.Chat",
        "$ bridge audit subject alice",
        "!privacy delete confirm ",
        "$ bridge privacy status er-",
        state["bridge"]["dashboard"]["url"],
        state["bridge"]["dashboard"]["admin_token"],
    ):
        assert fragment in text, fragment
    assert "(Enter to continue)" not in text  # --yes never waits

    # kill -9 the bridge; say something on both sides while it is down.
    old_pid = state["bridge"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    room = state["rooms"][0]
    bob = next(u for u in state["rocketchat"]["users"] if u["username"] == "bob")
    rc_auth = {"X-User-Id": bob["user_id"], "X-Auth-Token": bob["auth_token"]}
    rc = state["rocketchat"]["url"]
    hs = state["homeservers"][1]
    carol = hs["users"][0]
    mx_auth = {"Authorization": f"Bearer {carol['access_token']}"}
    mx_room = urllib.parse.quote(room["matrix_room_id"], safe="")
    mx = f"{hs['client_url']}/_matrix/client/v3/rooms/{mx_room}"
    from_rc = f"said on Rocket.Chat while the bridge was down {os.urandom(3).hex()}"
    from_mx = f"said on Matrix while the bridge was down {os.urandom(3).hex()}"
    _call(
        "POST",
        f"{rc}/api/v1/chat.postMessage",
        {"roomId": room["rocketchat_room_id"], "text": from_rc},
        rc_auth,
    )
    _call(
        "PUT",
        f"{mx}/send/m.room.message/{os.urandom(8).hex()}",
        {"msgtype": "m.text", "body": from_mx},
        mx_auth,
    )
    assert json.loads(run.state_file.read_text())["bridge"]["pid"] == old_pid  # still down

    def new_pid() -> int | None:
        pid = json.loads(run.state_file.read_text())["bridge"]["pid"]
        return pid if pid != old_pid else None

    pid = _wait_until("a restarted bridge in the state file", new_pid, run)
    assert is_pid_alive(pid) and not is_pid_alive(old_pid)
    assert f"The bridge (pid {old_pid}) stopped unexpectedly" in run.text()
    assert f"The bridge is running again (pid {pid})" in run.text()

    def in_matrix() -> bool:
        events = _call("GET", f"{mx}/messages?dir=b&limit=50", headers=mx_auth)["chunk"]
        return any(from_rc in str(e.get("content", {}).get("body", "")) for e in events)

    def in_rocketchat() -> bool:
        url = f"{rc}/api/v1/channels.history?roomId={room['rocketchat_room_id']}&count=50"
        return any(
            from_mx in m.get("msg", "") for m in _call("GET", url, headers=rc_auth)["messages"]
        )

    _wait_until("the Rocket.Chat message to reach Matrix", in_matrix, run)
    _wait_until("the Matrix message to reach Rocket.Chat", in_rocketchat, run)
    assert run.terminate() == 0, run.text()
    assert not is_pid_alive(pid)
