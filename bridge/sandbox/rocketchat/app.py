"""Build and run the simulated Rocket.Chat server.

In-process use (tests, demo)::

    async with SimulatorServer(SimConfig()) as sim:
        client = RCRestClient.with_token(sim.url, sim.bot.id, sim.bot_token)

Restarting keeps the state: ``await sim.stop(); await sim.start()`` binds the same port
again (or pass the same :class:`SimState` / a ``snapshot`` path to a new server).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from bridge.sandbox.rocketchat import (
    faults,
    realtime,
    retention,
    routes_auth,
    routes_chat,
    routes_files,
    routes_integrations,
    routes_lists,
    routes_rooms,
    routes_server,
    routes_users,
)
from bridge.sandbox.rocketchat.appkeys import (
    FAULTS_KEY,
    HUB_KEY,
    LIMITER_KEY,
    SERVER_KEY,
    STATE_KEY,
)
from bridge.sandbox.rocketchat.ratelimit import RateLimiter, ratelimit_headers_middleware
from bridge.sandbox.rocketchat.responses import error_middleware
from bridge.sandbox.rocketchat.state import SimState, SimUser

log = logging.getLogger(__name__)


@attrs.frozen
class Exchange:
    """One request/response pair, recorded for OpenAPI conformance checks."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str
    status: int
    response_body: bytes
    response_content_type: str


ExchangeHook = Callable[[Exchange], None]


@attrs.frozen
class SimConfig:
    """Seeded accounts: an admin (password login) and the bridge's bot (role ``bot``, PAT)."""

    host: str = "127.0.0.1"
    port: int = 0
    snapshot: Path | None = None
    admin_username: str = "admin"
    admin_password: str = "admin-pass"  # noqa: S105 - simulator seed account
    bot_username: str = "bridge.bot"
    bot_password: str = "bot-pass"  # noqa: S105 - simulator seed account
    bot_token: str = "bot-personal-access-token"  # noqa: S105 - simulator seed account
    ping_interval: float = 15.0
    rate_limit: bool = True
    # How often the retention-policy job runs (seconds); Rocket.Chat's default is every
    # 30 minutes. 0 = never on its own (tests run it through ``POST /_sim/retention``).
    retention_interval: float = 1800.0


def _recorder(hook: ExchangeHook) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            passed: web.StreamResponse = await handler(request)
            return passed
        body = await request.read()
        response: web.StreamResponse = await handler(request)
        if isinstance(response, web.Response):
            hook(
                Exchange(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=dict(request.headers),
                    body=body,
                    content_type=request.headers.get("Content-Type", ""),
                    status=response.status,
                    response_body=bytes(response.body) if isinstance(response.body, bytes) else b"",
                    response_content_type=response.content_type,
                )
            )
        return response

    return record


def build_app(
    state: SimState,
    *,
    ping_interval: float = 15.0,
    on_exchange: ExchangeHook | None = None,
    server: SimulatorServer | None = None,
    retention_interval: float = 0.0,
) -> web.Application:
    # Outermost first: record what the client saw, faults before anything else runs.
    middlewares = [_recorder(on_exchange)] if on_exchange else []
    middlewares += [faults.fault_middleware, error_middleware, ratelimit_headers_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults.Faults()
    app[LIMITER_KEY] = RateLimiter()
    app[SERVER_KEY] = server
    modules = (routes_auth, routes_users, routes_rooms, routes_lists, routes_chat, routes_files)
    for module in (*modules, routes_server, routes_integrations, retention, faults):
        module.add_routes(app)
    realtime.setup(app, ping_interval)

    async def retention_job(_: web.Application) -> AsyncIterator[None]:
        async with retention.scheduled(state, retention_interval):
            yield

    app.cleanup_ctx.append(retention_job)
    return app


class SimulatorServer:
    """A running simulator bound to ``config.host``; the port is kept across restarts."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        state: SimState | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.on_exchange = on_exchange
        if state is None and self.config.snapshot and self.config.snapshot.exists():
            state = SimState.load(self.config.snapshot)
        self.state = state or SimState()
        if not self.config.rate_limit:
            self.state.settings["API_Enable_Rate_Limiter"] = False
        self.port = self.config.port
        self._runner: web.AppRunner | None = None
        self._outage: asyncio.Task[None] | None = None
        self.seed()

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def admin(self) -> SimUser:
        user = self.state.user_by_name(self.config.admin_username)
        assert user is not None
        return user

    @property
    def bot(self) -> SimUser:
        user = self.state.user_by_name(self.config.bot_username)
        assert user is not None
        return user

    def seed(self) -> None:
        """Create the admin and bot accounts unless they exist (idempotent)."""
        cfg = self.config
        if self.state.user_by_name(cfg.admin_username) is None:
            self.state.add_user(cfg.admin_username, cfg.admin_password, ["admin", "user"])
        if self.state.user_by_name(cfg.bot_username) is None:
            self.state.add_user(
                cfg.bot_username, cfg.bot_password, ["bot"], token=cfg.bot_token, user_type="bot"
            )
        if "rocket.cat" not in self.state.users:
            # Every server has this bot with the fixed id "rocket.cat" (server/startup/
            # initialData.ts); users.delete with Message_ErasureType Unlink hands messages to it.
            now = self.state.now_ms()
            self.state.users["rocket.cat"] = SimUser(
                id="rocket.cat",
                username="rocket.cat",
                name="Rocket.Cat",
                email="rocket.cat@rocket.chat",
                password=secrets.token_urlsafe(24),
                roles=["bot"],
                created_at=now,
                updated_at=now,
                user_type="bot",
            )

    @property
    def app(self) -> web.Application | None:
        return self._runner.app if self._runner else None

    async def start(self) -> None:
        app = build_app(
            self.state,
            ping_interval=self.config.ping_interval,
            on_exchange=self.on_exchange,
            server=self,
            retention_interval=self.config.retention_interval,
        )
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        log.info("Rocket.Chat simulator listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self.config.snapshot:
            self.state.save(self.config.snapshot)

    def schedule_outage(self, seconds: float) -> None:
        """Fault injection: stop serving (connections refused) for ``seconds``, then return."""

        async def outage() -> None:
            await asyncio.sleep(0.05)
            app = self.app
            if app is not None:
                await app[HUB_KEY].close_all()
            await self.stop()
            await asyncio.sleep(seconds)
            await self.start()

        self._outage = asyncio.create_task(outage())

    async def wait_until_up(self) -> None:
        if self._outage is not None:
            await self._outage

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._outage is not None and not self._outage.done():
            self._outage.cancel()
            await asyncio.gather(self._outage, return_exceptions=True)
        await self.stop()
