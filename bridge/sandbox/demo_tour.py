"""``bridge demo --tour``: the product's story, one step at a time, against the running demo.

Each step does something real through the public APIs a person or an operator would use
(Matrix client API, Rocket.Chat REST, the ``bridge`` CLI), prints what happened, and
pauses until Enter (or not, with ``--yes``):

1. a message from Rocket.Chat to Matrix and one back;
2. ``bridge audit subject alice``: which servers received alice's data;
3. alice's ``!privacy delete`` in her DM with the bridge, its code, and the confirmation;
4. the request's per-server status (``bridge privacy status``);
5. the privacy dashboard's URL and how to log in.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.sandbox.demo_state import DemoState, HomeserverState, MatrixAdmin, MatrixLogin

Say = Callable[[str], None]
# Whom a step acts as on Matrix: a user, or the homeserver's admin when it has none.
Login = MatrixLogin | MatrixAdmin
Pause = Callable[[], Awaitable[None]]
_WAIT_S = 60.0
_CODE = re.compile(r"!privacy delete confirm (\S+)")
_REQUEST = re.compile(r"\ber-[0-9a-f]{16}\b")


class TourError(Exception):
    """A step did not see what it waited for."""


class Tour:
    def __init__(self, state: DemoState, say: Say, pause: Pause) -> None:
        self._state = state
        self._say = say
        self._pause = pause
        rc = state.rocketchat
        self._rc_url = rc.url
        self._alice = next(u for u in rc.users if u.username == "alice")
        self._room = state.rooms[0]
        self._config = Path(state.bridge.config_path)

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            self._http = http
            steps = (
                ("A message both ways", self._messages),
                ("Who received alice's data: bridge audit subject alice", self._audit),
                ("alice asks for erasure: !privacy delete", self._delete),
                ("Where the erasure stands, server by server", self._status),
                ("The privacy officer's dashboard", self._dashboard),
            )
            self._request_id: str | None = None
            for number, (title, step) in enumerate(steps, 1):
                self._say(f"\n=== Step {number} of {len(steps)}: {title} ===")
                await step()
                await self._pause()
        self._say("\nThe tour is over. The demo keeps running until Ctrl-C.")

    # -- steps ------------------------------------------------------------------------

    async def _messages(self) -> None:
        homeservers = self._state.homeservers
        hs = homeservers[1] if len(homeservers) > 1 else homeservers[0]
        user = hs.users[0] if hs.users else hs.admin
        text = f"Hello from alice on Rocket.Chat ({uuid.uuid4().hex[:6]})"
        await self._rc("POST", "chat.postMessage", {"roomId": self._room_rc, "text": text})
        self._say(f"alice posted in #{self._room.rocketchat_room_name}: {text!r}")
        await self._wait(f"{user.user_id} to see it", lambda: self._in_matrix(hs, user, text))
        self._say(f"{user.user_id} sees it in {self._room.matrix_room_id} on {hs.server_name}.")
        reply = f"Hello back from {user.user_id} ({uuid.uuid4().hex[:6]})"
        txn = uuid.uuid4().hex
        room = quote(self._room.matrix_room_id, safe="")
        await self._matrix(
            hs,
            user,
            "PUT",
            f"rooms/{room}/send/m.room.message/{txn}",
            {"msgtype": "m.text", "body": reply},
        )
        self._say(f"{user.user_id} answered on Matrix: {reply!r}")
        await self._wait("the answer to reach Rocket.Chat", lambda: self._in_rocketchat(reply))
        self._say("alice sees the answer in Rocket.Chat.")

    async def _audit(self) -> None:
        # The ledger records a disclosure once the bridge has seen its copy come back from
        # the homeserver, which can trail what carol saw by a moment.
        await self._cli("audit", "subject", "alice", patience_s=30.0)

    async def _delete(self) -> None:
        bot = self._state.rocketchat.bot_username
        created = await self._rc("POST", "im.create", {"username": bot})
        dm = created["room"]["rid"]
        await self._rc("POST", "chat.postMessage", {"roomId": dm, "text": "!privacy delete"})
        self._say(f"alice, in her DM with {bot}: !privacy delete")
        answer = await self._wait("the bridge's summary and code", lambda: self._dm_find(dm, _CODE))
        self._say(f"{bot} answers:\n{_indent(answer)}")
        match = _CODE.search(answer)
        assert match is not None
        confirm = f"!privacy delete confirm {match.group(1)}"
        await self._rc("POST", "chat.postMessage", {"roomId": dm, "text": confirm})
        self._say(f"alice: {confirm}")
        progress = await self._wait("the request's id", lambda: self._dm_find(dm, _REQUEST))
        self._say(f"{bot} answers:\n{_indent(progress)}")
        found = _REQUEST.search(progress)
        self._request_id = found.group(0) if found else None

    async def _status(self) -> None:
        if self._request_id is None:
            raise TourError("no request id was announced in alice's DM")
        await self._cli("privacy", "status", self._request_id)

    async def _dashboard(self) -> None:
        dashboard = self._state.bridge.dashboard
        self._say(f"Open {dashboard.url} in a browser and log in with the token")
        self._say(f"  {dashboard.admin_token}")
        self._say("It shows the flows per server, alice's record, and the request you just made.")

    # -- helpers ----------------------------------------------------------------------

    @property
    def _room_rc(self) -> str:
        return self._room.rocketchat_room_id

    async def _rc(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"X-User-Id": self._alice.user_id, "X-Auth-Token": self._alice.auth_token}
        url = f"{self._rc_url}/api/v1/{route}"
        async with self._http.request(method, url, json=body, headers=headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def _matrix(
        self, hs: HomeserverState, user: Login, method: str, path: str, body: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {user.access_token}"}
        url = f"{hs.client_url}/_matrix/client/v3/{path}"
        async with self._http.request(method, url, json=body, headers=headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def _in_matrix(self, hs: HomeserverState, user: Login, text: str) -> str | None:
        room = quote(self._room.matrix_room_id, safe="")
        page = await self._matrix(hs, user, "GET", f"rooms/{room}/messages?dir=b&limit=50")
        bodies = [str(e.get("content", {}).get("body", "")) for e in page["chunk"]]
        return next((b for b in bodies if text in b), None)

    async def _in_rocketchat(self, text: str) -> str | None:
        page = await self._rc("GET", f"channels.history?roomId={self._room_rc}&count=50")
        return next((m["msg"] for m in page["messages"] if text in m.get("msg", "")), None)

    async def _dm_find(self, dm: str, pattern: re.Pattern[str]) -> str | None:
        page = await self._rc("GET", f"im.history?roomId={dm}&count=50")
        for message in reversed(page["messages"]):  # oldest first
            if message["u"]["_id"] != self._alice.user_id and pattern.search(message["msg"]):
                return str(message["msg"])
        return None

    async def _wait(self, what: str, probe: Callable[[], Awaitable[str | None]]) -> str:
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            found = await probe()
            if found is not None:
                return found
            await asyncio.sleep(0.3)
        raise TourError(f"waited {_WAIT_S:.0f} s for {what}")

    async def _cli(self, *args: str, patience_s: float = 0.0) -> None:
        """Run ``bridge <args>`` and show its output; with patience, until it succeeds."""
        self._say("$ bridge " + " ".join(args))
        deadline = time.monotonic() + patience_s
        while True:
            code, output = await self._run_cli(args)
            if code == 0 or time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)
        self._say(_indent(output.rstrip()))
        if code != 0:
            raise TourError(f"bridge {' '.join(args)} exited with {code}")

    async def _run_cli(self, args: tuple[str, ...]) -> tuple[int | None, str]:
        argv = [*args, "-c", str(self._config)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self._config.parent,
        )
        output, _ = await proc.communicate()
        return proc.returncode, output.decode(errors="replace")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
