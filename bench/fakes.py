"""An instant fake homeserver (an aiohttp app on port 0) for the bridge-only ceiling.

It answers every client-server call the bridge makes with the smallest valid answer, at
once, so what is measured is the bridge: intake, inbox, dispatcher, relays, outbox and
ledger. Rocket.Chat is the sandbox simulator, in-process as well.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence

from aiohttp import web

ROOM_VERSION = "12"


class FakeHomeserver:
    def __init__(self, domain: str, rooms: Sequence[str], members: Sequence[str]) -> None:
        self.domain = domain
        self._rooms = set(rooms)
        self._members = list(members)
        self._ids = itertools.count(1)
        self.calls: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _any(self, request: web.Request) -> web.Response:
        path = request.path
        parts = path.split("/")
        self.calls[_shape(request.method, parts)] += 1
        if path.endswith("/members") and "/rooms/" in path:
            return _json({"chunk": [self._member(m) for m in self._members]})
        if path.endswith("/state") and "/rooms/" in path:
            return _json([_visibility()])
        if request.method == "GET" and "/state/" in path:
            return self._state_event(parts, request.query.get("format") == "event")
        if "/profile/" in path:
            return _json({"displayname": parts[-2] if parts[-1] == "displayname" else None})
        if path.endswith("/register"):
            body = await _body(request)
            return _json({"user_id": f"@{body.get('username', 'x')}:{self.domain}"})
        if "/appservice/" in path and path.endswith("/ping"):
            return _json({"duration_ms": 1})
        if path.endswith("/createRoom"):
            return _json({"room_id": f"!fake{next(self._ids)}:{self.domain}"})
        if path.endswith("/joined_rooms"):
            return _json({"joined_rooms": sorted(self._rooms)})
        if "/join" in path:
            return _json({"room_id": parts[-2] if parts[-1] == "join" else parts[-1]})
        if request.method == "PUT" and ("/send/" in path or "/state/" in path):
            return _json({"event_id": f"$fake{next(self._ids)}"})
        if "/redact/" in path:
            return _json({"event_id": f"$fake{next(self._ids)}"})
        if path.endswith("/whoami"):
            return _json({"user_id": request.query.get("user_id", f"@bot:{self.domain}")})
        if path.endswith("/versions"):
            return _json({"versions": ["v1.11"]})
        return _json({})

    def _state_event(self, parts: list[str], whole: bool) -> web.Response:
        # mautrix checks power levels before sending: the bot moderates every room.
        event_type = parts[parts.index("state") + 1]
        bot = self._members[0]
        content: dict[str, object] = {}
        if event_type == "m.room.create":
            content = {"room_version": ROOM_VERSION}
        elif event_type == "m.room.power_levels":
            content = {"users": {bot: 100}, "users_default": 0, "events_default": 0}
        else:
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no state"}, status=404)
        if not whole:
            return _json(content)
        room_id = parts[parts.index("rooms") + 1]
        return _json(
            {
                "type": event_type,
                "state_key": "",
                "sender": bot,
                "room_id": room_id,
                "event_id": f"$state-{event_type}",
                "origin_server_ts": 1,
                "content": content,
            }
        )

    def _member(self, user_id: str) -> dict[str, object]:
        return {
            "type": "m.room.member",
            "state_key": user_id,
            "sender": user_id,
            "content": {"membership": "join"},
            "origin_server_ts": 1,
            "event_id": f"$member-{user_id}",
        }


def _visibility() -> dict[str, object]:
    return {
        "type": "m.room.history_visibility",
        "state_key": "",
        "content": {"history_visibility": "shared"},
        "origin_server_ts": 1,
    }


def _shape(method: str, parts: list[str]) -> str:
    # Group calls by endpoint, not by id: "/_matrix/client/v3/rooms/*/send/*/*".
    kept = [p if p.isalpha() or p.startswith("v") or p == "_matrix" else "*" for p in parts]
    return f"{method} {'/'.join(kept)}"


async def _body(request: web.Request) -> dict[str, object]:
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(data: object) -> web.Response:
    return web.json_response(data)
