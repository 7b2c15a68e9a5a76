"""The simulator's DDP frames match what Rocket.Chat's own ddp-client expects."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bridge.sandbox.rocketchat.app import SimulatorServer


async def _recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads((await ws.receive(timeout=5)).data)
    return frame


async def test_handshake_login_sub_and_ping(rc_sim: SimulatorServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(rc_sim.url.replace("http", "ws") + "/websocket") as ws,
    ):
        assert await _recv(ws) == {"server_id": "0"}
        await ws.send_json({"msg": "connect", "version": "1", "support": ["1", "pre2", "pre1"]})
        connected = await _recv(ws)
        assert connected["msg"] == "connected" and connected["session"]

        await ws.send_json(
            {
                "msg": "sub",
                "id": "s0",
                "name": "stream-room-messages",
                "params": ["__my_messages__", False],
            }
        )
        nosub = await _recv(ws)
        assert nosub["msg"] == "nosub" and nosub["error"]["error"] == "not-allowed"

        await ws.send_json(
            {"msg": "method", "method": "login", "id": "1", "params": [{"resume": "wrong"}]}
        )
        refused = await _recv(ws)
        assert refused["id"] == "1" and refused["error"]["error"] == 403
        assert refused["error"]["errorType"] == "Meteor.Error"
        assert (await _recv(ws)) == {"msg": "updated", "methods": ["1"]}

        await ws.send_json(
            {
                "msg": "method",
                "method": "login",
                "id": "2",
                "params": [{"resume": rc_sim.config.bot_token}],
            }
        )
        result = await _recv(ws)
        assert result["result"]["id"] == rc_sim.bot.id
        assert result["result"]["type"] == "resume" and "$date" in result["result"]["tokenExpires"]
        await _recv(ws)  # updated

        await ws.send_json(
            {
                "msg": "sub",
                "id": "s1",
                "name": "stream-room-messages",
                "params": ["__my_messages__", False],
            }
        )
        assert await _recv(ws) == {"msg": "ready", "subs": ["s1"]}

        await ws.send_json({"msg": "ping", "id": "p"})
        assert await _recv(ws) == {"msg": "pong", "id": "p"}
        # The server pings too (ping_interval 0.5 s in tests); answering keeps us connected.
        ping = await _recv(ws)
        assert ping == {"msg": "ping"}
        await ws.send_json({"msg": "pong"})


async def test_silent_client_is_dropped(rc_sim: SimulatorServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(rc_sim.url.replace("http", "ws") + "/websocket") as ws,
    ):
        await ws.send_json({"msg": "connect", "version": "1", "support": ["1"]})
        kinds = []
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            kinds.append(json.loads(msg.data).get("msg"))
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert "ping" in kinds
