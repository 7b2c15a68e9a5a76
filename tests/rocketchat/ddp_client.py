"""A bare DDP client for driving the simulator's realtime API frame by frame."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bridge.sandbox.rocketchat.app import SimulatorServer


class DDP:
    """A bare DDP client: send frames, read until one matches."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.seen: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    async def next_matching(self, **want: Any) -> dict[str, Any]:
        """The first unconsumed frame with these fields (earlier others stay pending)."""
        while True:
            for frame in self.pending:
                if all(frame.get(k) == v for k, v in want.items()):
                    self.pending.remove(frame)
                    return frame
            await self._read_one()

    async def _read_one(self) -> None:
        frame: dict[str, Any] = json.loads((await self.ws.receive(timeout=5)).data)
        self.seen.append(frame)
        if frame.get("msg") == "ping":
            await self.ws.send_json({"msg": "pong"})
        else:
            self.pending.append(frame)

    async def call(self, method: str, *params: Any) -> dict[str, Any]:
        call_id = str(next(self.ids))
        await self.ws.send_json(
            {"msg": "method", "method": method, "id": call_id, "params": params}
        )
        return await self.next_matching(msg="result", id=call_id)

    async def sub(self, name: str, param: str) -> dict[str, Any]:
        sub_id = f"s{next(self.ids)}"
        await self.ws.send_json(
            {"msg": "sub", "id": sub_id, "name": name, "params": [param, False]}
        )
        while True:
            for frame in self.pending:
                if frame.get("subs") == [sub_id] or frame.get("id") == sub_id:
                    self.pending.remove(frame)
                    return frame
            await self._read_one()

    async def event(self, stream: str, event: str) -> list[Any]:
        frame = await self.next_matching(msg="changed", collection=stream)
        while frame["fields"]["eventName"] != event:
            frame = await self.next_matching(msg="changed", collection=stream)
        args: list[Any] = frame["fields"]["args"]
        return args


@asynccontextmanager
async def ddp(sim: SimulatorServer, login: dict[str, Any] | None) -> AsyncIterator[DDP]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.url.replace("http", "ws") + "/websocket") as ws,
    ):
        client = DDP(ws)
        await ws.send_json({"msg": "connect", "version": "1", "support": ["1"]})
        await client.next_matching(msg="connected")
        if login is not None:
            result = await client.call("login", login)
            assert "result" in result, result
        yield client


def digest(password: str) -> dict[str, str]:
    return {"digest": hashlib.sha256(password.encode()).hexdigest(), "algorithm": "sha-256"}
