"""Watches one Matrix user's /sync and timestamps the arrival of each message body."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from urllib.parse import quote

import aiohttp

from bridge.sandbox.models import MatrixUser

_FILTER = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": 100, "types": ["m.room.message"]},
        "state": {"types": []},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


class SyncObserver:
    def __init__(self, user: MatrixUser) -> None:
        self._user = user
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        self._task = asyncio.create_task(self._loop())
        await asyncio.wait_for(self._ready.wait(), 60)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    def expect(self, body: str) -> asyncio.Future[float]:
        """A future resolved with the perf_counter time ``body`` showed up in /sync."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if body in self._seen:
            future.set_result(self._seen.pop(body))
        else:
            self._waiting[body] = future
        return future

    async def _loop(self) -> None:
        assert self._session is not None
        base = f"{self._user.homeserver.client_url}/_matrix/client/v3/sync"
        headers = {"Authorization": f"Bearer {self._user.access_token}"}
        filt = quote(json.dumps(_FILTER))
        since: str | None = None
        while True:
            url = f"{base}?filter={filt}&timeout={0 if since is None else 30000}"
            if since:
                url += f"&since={quote(since)}"
            try:
                async with self._session.get(url, headers=headers) as resp:
                    data = await resp.json()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            now = time.perf_counter()
            since = data.get("next_batch", since)
            if not self._ready.is_set():
                self._ready.set()
                continue  # history before the observer started is not an arrival
            for room in data.get("rooms", {}).get("join", {}).values():
                for event in room.get("timeline", {}).get("events", []):
                    body = (event.get("content") or {}).get("body")
                    if not isinstance(body, str):
                        continue
                    future = self._waiting.pop(body, None)
                    if future is not None and not future.done():
                        future.set_result(now)
                    else:
                        self._seen[body] = now
