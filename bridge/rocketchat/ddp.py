"""A minimal DDP client over aiohttp's websocket (docs/rocketchat-notes.md).

Only what the bridge needs: ``connect``, method calls (``login``), subscriptions and the
``changed`` frames that carry stream events. The server pings; we answer ``pong``. We also
ping the server so a silently dead connection is noticed (no frame for ``ping_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bridge.rocketchat.errors import RCConnectionError, RCRealtimeError

log = logging.getLogger(__name__)

# (collection, eventName, args) of a stream event.
StreamHandler = Callable[[str, str, list[Any]], None]


class DDPConnection:
    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        on_stream: StreamHandler,
        *,
        ping_interval: float,
        call_timeout: float,
    ) -> None:
        self.ws = ws
        self.on_stream = on_stream
        self.ping_interval = ping_interval
        self.call_timeout = call_timeout
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._last_frame = time.monotonic()

    @classmethod
    async def open(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        on_stream: StreamHandler,
        *,
        ping_interval: float = 15.0,
        call_timeout: float = 15.0,
    ) -> DDPConnection:
        try:
            ws = await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RCConnectionError(f"websocket connect failed: {exc!r}") from exc
        conn = cls(ws, on_stream, ping_interval=ping_interval, call_timeout=call_timeout)
        try:
            await conn._handshake()
        except BaseException:
            await ws.close()
            raise
        return conn

    async def _handshake(self) -> None:
        # The versions Rocket.Chat's own ddp-client offers.
        await self._send({"msg": "connect", "version": "1", "support": ["1", "pre2", "pre1"]})
        async with asyncio.timeout(self.call_timeout):
            while True:
                frame = await self._receive()
                if frame is None:
                    raise RCConnectionError("websocket closed during DDP handshake")
                if frame.get("msg") == "connected":
                    return
                if frame.get("msg") == "failed":
                    raise RCRealtimeError("server refused DDP version", frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await self.ws.send_str(json.dumps(frame))
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise RCConnectionError(f"websocket send failed: {exc!r}") from exc

    async def _receive(self) -> dict[str, Any] | None:
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return None
                continue
            self._last_frame = time.monotonic()
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(frame, dict):
                return frame

    async def _request(self, frame: dict[str, Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[str(frame["id"])] = future
        try:
            await self._send(frame)
            async with asyncio.timeout(self.call_timeout):
                return await future
        finally:
            self._pending.pop(str(frame["id"]), None)

    async def call(self, method: str, *params: Any) -> Any:
        """Call a DDP method; an ``error`` answer raises :class:`RCRealtimeError`."""
        return await self._request(
            {"msg": "method", "method": method, "id": str(next(self._ids)), "params": list(params)}
        )

    async def subscribe(self, name: str, *params: Any) -> str:
        sub_id = f"sub-{next(self._ids)}"
        await self._request({"msg": "sub", "id": sub_id, "name": name, "params": list(params)})
        return sub_id

    async def run(self) -> None:
        """Read frames until the connection ends; resolves calls, forwards stream events."""
        keepalive = asyncio.create_task(self._keepalive())
        try:
            while (frame := await self._receive()) is not None:
                await self._on_frame(frame)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(RCConnectionError("websocket closed"))
            await self.ws.close()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("msg")
        if kind == "ping":
            await self._send({"msg": "pong", **({"id": frame["id"]} if "id" in frame else {})})
        elif kind == "changed":
            # Frames of the wrong shape are ignored, not raised: one bad frame must not
            # drop the connection (and come back with catch-up, again and again).
            fields = frame.get("fields")
            fields = fields if isinstance(fields, dict) else {}
            args = fields.get("args")
            self.on_stream(
                str(frame.get("collection")),
                str(fields.get("eventName")),
                args if isinstance(args, list) else [],
            )
        elif kind == "result":
            self._resolve(str(frame.get("id")), frame.get("error"), frame.get("result"))
        elif kind == "ready":
            subs = frame.get("subs")
            for sub_id in subs if isinstance(subs, list) else ():
                self._resolve(str(sub_id), None, True)
        elif kind == "nosub":
            self._resolve(str(frame.get("id")), frame.get("error") or {"reason": "nosub"}, None)

    def _resolve(self, frame_id: str, error: Any, result: Any) -> None:
        future = self._pending.get(frame_id)
        if future is None or future.done():
            return
        if error is not None:
            reason = error.get("reason") if isinstance(error, dict) else str(error)
            future.set_exception(
                RCRealtimeError(f"DDP error: {reason}", error if isinstance(error, dict) else None)
            )
        else:
            future.set_result(result)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if time.monotonic() - self._last_frame > 2 * self.ping_interval:
                log.warning(
                    "No DDP frame for %.1f s; dropping the connection", 2 * self.ping_interval
                )
                await self.ws.close()
                return
            await self._send({"msg": "ping", "id": f"keepalive-{next(self._ids)}"})

    async def close(self) -> None:
        await self.ws.close()
