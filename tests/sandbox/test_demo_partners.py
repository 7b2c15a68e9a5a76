"""The demo's partners, end to end: its other homeservers are registered with their
admins as contacts; with the third set to ``deny`` a new Rocket.Chat message reaches the
second and never the third, the portal carries the ACL and the ledger records nothing
more for the third; an erasure's notices reach each partner's admin by Matrix DM and by
e-mail in the demo's local mail sink."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bridge.cli.main import main
from bridge.sandbox.demo_partners import partner_email
from tests.sandbox.matrix_inbox import MatrixInbox
from tests.sandbox.test_demo import STOP_LIMIT_S, DemoRun

pytestmark = pytest.mark.integration
T = TypeVar("T")
LIMIT_S = 60.0


def _call(url: str, token: str | None = None, body: Any = None, method: str = "GET",
          headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read() or b"{}")


def _until(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + LIMIT_S
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {LIMIT_S}s"
        time.sleep(0.5)


def _messages(hs: dict[str, Any], room: str) -> list[str]:
    q = urllib.parse.quote(room)
    url = f"{hs['client_url']}/_synapse/admin/v1/rooms/{q}/messages?dir=b&limit=200"
    chunk = _call(url, hs["admin"]["access_token"]).get("chunk", [])
    return [str(e["content"].get("body")) for e in chunk if e.get("type") == "m.room.message"]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture
def run(tmp_path: Path) -> Iterator[DemoRun]:
    demo = DemoRun(tmp_path)
    yield demo
    if demo.proc.poll() is None:  # a failed test must not leave a demo running
        demo.proc.send_signal(signal.SIGTERM)
        try:
            demo.proc.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            demo.proc.kill()


def test_partners_deny_and_notices_by_dm_and_mail(
    run: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    state = run.wait_state()
    config = state["bridge"]["config_path"]
    hs2, hs3 = state["homeservers"][1], state["homeservers"][2]
    assert "Mail sink" in run.wait_line("Mail sink")
    partners = json.loads(_cli(capsys, "partner", "list", "-c", config, "--format", "json"))
    assert [p["server"] for p in partners["partners"]] == sorted(
        [hs2["server_name"], hs3["server_name"]]
    )
    for p in partners["partners"]:
        hs = hs2 if p["server"] == hs2["server_name"] else hs3
        assert {"matrix_id": hs["admin"]["user_id"]} in p["contacts"]
        assert any("email" in c for c in p["contacts"])

    room = state["rooms"][0]["matrix_room_id"]
    rc = state["rocketchat"]
    alice = next(u for u in rc["users"] if u["username"] == "alice")
    auth = {"X-User-Id": alice["user_id"], "X-Auth-Token": alice["auth_token"]}

    def post(text: str) -> None:
        body = {"roomId": state["rooms"][0]["rocketchat_room_id"], "text": text}
        _call(f"{rc['url']}/api/v1/chat.postMessage", None, body, "POST", auth)

    # Before the deny, alice's message reaches both other agencies.
    post("before the deny")
    for hs in (hs2, hs3):
        _until(lambda hs=hs: "before the deny" in _messages(hs, room), "the first message")

    def server(name: str) -> dict[str, Any]:
        return dict(
            json.loads(_cli(capsys, "audit", "server", name, "-c", config, "--format", "json"))
        )

    before = server(hs3["server_name"])["items"]
    _cli(capsys, "partner", "set", hs3["server_name"], "--policy", "deny", "-c", config)
    carol = hs2["users"][0]

    def acl() -> dict[str, Any] | None:
        q = urllib.parse.quote(room)
        url = f"{hs2['client_url']}/_matrix/client/v3/rooms/{q}/state/m.room.server_acl"
        try:
            content = _call(url, carol["access_token"])
        except urllib.error.HTTPError:
            return None
        host = hs3["server_name"].rsplit(":", 1)[0]
        return content if host in content.get("deny", []) else None

    _until(acl, "the ACL naming the third homeserver")
    text = f"after the deny {time.time()}"
    post(text)
    _until(lambda: text in _messages(hs2, room), "the message on the second homeserver")
    assert text not in _messages(hs3, room)
    assert server(hs3["server_name"])["items"] == before
    assert server(hs2["server_name"])["items"] > 0

    erased = json.loads(_cli(capsys, "privacy", "erase", "alice", "--format", "json", "-c", config))
    sink = Path(state["mail_sink"]["directory"])

    def mails() -> list[Any] | None:
        found = [message_from_bytes(p.read_bytes()) for p in sorted(sink.glob("*.eml"))]
        to = {m["To"] for m in found}
        return found if {partner_email(1), partner_email(2)} <= to else None

    found = _until(mails, "erasure notices in the mail sink")
    assert all(m["Subject"].startswith("Erasure request") for m in found)

    # The Matrix DM, as each admin sees it on their own homeserver: the bot's invitation
    # accepted, the notice read from the room (for the third too: a deny closes the portal
    # rooms to it, not the bot's DM with its admin, which is where it is asked to erase).
    bot = state["bridge"]["bot_user_id"]
    prefix = f"Erasure request {erased['id']} "
    for hs in (hs2, hs3):
        inbox = MatrixInbox(hs["client_url"], hs["admin"]["access_token"], bot)
        _, notice = _until(
            lambda inbox=inbox: inbox.notice_starting(prefix),
            f"the notice in {hs['admin']['user_id']}'s DM",
        )
        assert "GDPR Art. 17" in notice

    # The request's report: the third's admin named as notified; the second's admin runs
    # the erasure receiver, whose answer may already have replaced that with its outcome.
    def notice_rows() -> dict[str, dict[str, Any]] | None:
        out = _cli(capsys, "privacy", "status", erased["id"], "--format", "json", "-c", config)
        rows = {r["recipient"]: r for r in json.loads(out)["recipients"] if r["room_id"] is None}
        final = ("admin notified", "acknowledged by remote", "purged by recipient")
        wanted = (hs2["server_name"], hs3["server_name"])
        return rows if all(rows.get(s, {}).get("status") in final for s in wanted) else None

    rows = _until(notice_rows, "both notices recorded in the report")
    third = rows[hs3["server_name"]]
    assert third["status"] == "admin notified"
    assert third["detail"].startswith(f"notified {hs3['admin']['user_id']}")
