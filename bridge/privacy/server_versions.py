"""Asking remote homeservers what software they run (federation version endpoint).

``GET /_matrix/federation/v1/version`` needs no authentication and answers
``{"server": {"name": …, "version": …}}`` (Matrix spec, Server-Server API, "GET
/_matrix/federation/v1/version"). The server name is resolved the simple ways of the
spec's server discovery: an IP literal or an explicit port is used as it is; otherwise
``/.well-known/matrix/server`` may delegate, else port 8448. SRV records are not looked
up (a server found only through SRV stays "unknown").
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import aiohttp

from bridge.storage.common import now_ms
from bridge.storage.database import Database

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def _explicit(server: str) -> bool:
    host = server.rsplit(":", 1)[0] if not server.endswith("]") else server
    literal = host.startswith("[") or host.replace(".", "").isdigit()
    return literal or (":" in server and not server.endswith("]"))


class ServerVersions:
    def __init__(
        self,
        db: Database,
        ssl_context: Callable[[], ssl.SSLContext | None] = lambda: None,
        *,
        timeout: float = 5.0,
        recheck_ms: int = DAY_MS,
        per_round: int = 10,
    ) -> None:
        self._db = db
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._recheck = recheck_ms
        self._per_round = per_round

    async def check_due(self, now: int | None = None) -> int:
        """Ask the servers not asked for a day (a few per round); returns how many."""
        now = now_ms() if now is None else now
        async with self._db.unit_of_work() as uow:
            due = await uow.servers.due(now - self._recheck, self._per_round)
        for server in due:
            await self.check(server, now)
        return len(due)

    async def check(self, server: str, now: int | None = None) -> None:
        now = now_ms() if now is None else now
        try:
            software, version = await self._fetch(server)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as e:
            log.info("No software version from %s: %s", server, type(e).__name__)
            async with self._db.unit_of_work() as uow:
                await uow.servers.failed(server, type(e).__name__, now)
            return
        async with self._db.unit_of_work() as uow:
            await uow.servers.seen(server, software, version, now)

    async def _fetch(self, server: str) -> tuple[str, str]:
        ssl_arg: ssl.SSLContext | bool = self._ssl() or True
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            base = server if _explicit(server) else await self._delegated(session, server)
            url = f"https://{base}/_matrix/federation/v1/version"
            async with session.get(url, ssl=ssl_arg) as resp:
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                body = await resp.json(content_type=None)
        info = body["server"]
        name, version = info["name"], info.get("version", "")
        if not isinstance(name, str) or not isinstance(version, str):
            raise TypeError("server.name and server.version must be strings")
        return name, version

    async def _delegated(self, session: aiohttp.ClientSession, server: str) -> str:
        """``m.server`` of the server's /.well-known/matrix/server, else port 8448."""
        try:
            url = f"https://{server}/.well-known/matrix/server"
            async with session.get(url, ssl=self._ssl() or True) as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            body = {}
        target = body.get("m.server") if isinstance(body, dict) else None
        if isinstance(target, str) and target:
            return target if ":" in target else f"{target}:8448"
        return f"{server}:8448"
