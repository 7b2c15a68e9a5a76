"""A message round trip through the running demo, using only its state file.

    python examples/demo_roundtrip.py /path/to/state.json

1. Logs in to another agency's homeserver (the second one) as its user, with the password
   from the state file, and posts in the bridged room; waits until the message shows up
   in the Rocket.Chat channel (REST ``channels.history``, as a Rocket.Chat user).
2. Posts in the channel as that Rocket.Chat user (``chat.postMessage``); waits until the
   Matrix user sees it (``/messages``).

Standard library only, so it runs with any Python 3.11. Exits 0 when both directions
arrive, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

TIMEOUT_S = 30.0


def call(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URLs
        return json.load(response)


def wait_for(what: str, probe: Any) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.3)
    raise SystemExit(f"FAILED: {what} within {TIMEOUT_S:.0f} s")


def matrix_login(homeserver: dict[str, Any], user: dict[str, Any]) -> str:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user["user_id"]},
        "password": user["password"],
    }
    return str(
        call("POST", f"{homeserver['client_url']}/_matrix/client/v3/login", body=body)[
            "access_token"
        ]
    )


def main(state_path: Path) -> None:
    state = json.loads(state_path.read_text())
    homeserver = state["homeservers"][1]  # another agency's server, federating with hs0
    matrix_user = homeserver["users"][0]
    room = state["rooms"][0]
    rc = state["rocketchat"]
    rc_user = rc["users"][0]

    token = matrix_login(homeserver, matrix_user)
    matrix_api = f"{homeserver['client_url']}/_matrix/client/v3"
    matrix_auth = {"Authorization": f"Bearer {token}"}
    room_path = urllib.parse.quote(room["matrix_room_id"], safe="")
    rc_auth = {"X-User-Id": rc_user["user_id"], "X-Auth-Token": rc_user["auth_token"]}

    # Matrix -> Rocket.Chat
    text = f"hello from {matrix_user['user_id']} ({uuid.uuid4().hex[:8]})"
    call(
        "PUT",
        f"{matrix_api}/rooms/{room_path}/send/m.room.message/{uuid.uuid4().hex}",
        body={"msgtype": "m.text", "body": text},
        headers=matrix_auth,
    )
    history_url = f"{rc['url']}/api/v1/channels.history?" + urllib.parse.urlencode(
        {"roomId": room["rocketchat_room_id"], "count": 50}
    )

    def in_rocketchat() -> bool:
        messages = call("GET", history_url, headers=rc_auth)["messages"]
        return any(text in m.get("msg", "") for m in messages)

    wait_for("the Matrix message to reach Rocket.Chat", in_rocketchat)
    print(f"Matrix -> Rocket.Chat: {text!r} arrived in #{room['rocketchat_room_name']}")  # noqa: T201

    # Rocket.Chat -> Matrix
    reply = f"hello from {rc_user['username']} ({uuid.uuid4().hex[:8]})"
    call(
        "POST",
        f"{rc['url']}/api/v1/chat.postMessage",
        body={"roomId": room["rocketchat_room_id"], "text": reply},
        headers=rc_auth,
    )
    messages_url = f"{matrix_api}/rooms/{room_path}/messages?dir=b&limit=50"

    def in_matrix() -> bool:
        events = call("GET", messages_url, headers=matrix_auth)["chunk"]
        return any(reply in str(e.get("content", {}).get("body", "")) for e in events)

    wait_for("the Rocket.Chat message to reach Matrix", in_matrix)
    print(f"Rocket.Chat -> Matrix: {reply!r} arrived in {room['matrix_room_id']}")  # noqa: T201


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
    print("Round trip OK")  # noqa: T201
