"""Test-only admin API: reset, settings/permissions, and fault injection.

Endpoints live under ``/_sim/`` (never part of Rocket.Chat's API):

* ``POST /_sim/reset`` — forget everything, re-seed the configured users.
* ``POST /_sim/faults`` ``{"down_seconds"?, "status"?: 429|500|503, "count"?, "reset_ms"?,
  "latency_ms"?}`` — go down (connections refused, websockets closed) for N seconds;
  answer ``status`` for the next ``count`` API calls (429s carry an ``X-RateLimit-Reset``
  ``reset_ms`` ahead); add latency to every call. With ``"path"`` (a prefix, e.g.
  ``"/api/v1/rooms.mediaConfirm/"``) only matching calls count; with ``"after_effect":
  true`` the call is carried out first and only its answer is replaced (an answer lost
  after the server acted, as behind a proxy that times out).
* ``POST /_sim/settings`` ``{"<setting>": value, …}``; ``POST /_sim/permissions``
  ``{"<permission>": [roles]}``.
* ``GET /_sim/state`` — a JSON dump for assertions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import attrs
from aiohttp import web

from bridge.sandbox.rocketchat.appkeys import FAULTS_KEY, LIMITER_KEY, SERVER_KEY, STATE_KEY
from bridge.sandbox.rocketchat.responses import APIError, internal_error

log = logging.getLogger(__name__)


@attrs.define
class Faults:
    status: int = 0
    count: int = 0
    reset_ms: int = 1000
    latency_ms: int = 0
    path: str = "/api/"
    after_effect: bool = False

    def clear(self) -> None:
        self.status, self.count, self.latency_ms = 0, 0, 0
        self.path, self.after_effect = "/api/", False

    def take(self, path: str) -> bool:
        """Whether this call gets the forced error (and counts it)."""
        if self.count <= 0 or not path.startswith(self.path):
            return False
        self.count -= 1
        return True


def _forced_error(faults: Faults) -> APIError:
    status = faults.status
    if status == 429:
        reset = int(time.time() * 1000) + faults.reset_ms
        body = {
            "success": False,
            "error": "Error, too many requests. Please slow down. You must wait "
            f"{max(1, faults.reset_ms // 1000)} seconds before trying this endpoint again. "
            "[error-too-many-requests]",
        }
        headers = {
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        return APIError(429, body, headers)
    if status == 503:
        return APIError(503, {"success": False, "error": "Service Unavailable"})
    return internal_error()


@web.middleware
async def fault_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    faults = request.app[FAULTS_KEY]
    if request.path.startswith("/api/"):
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.take(request.path):
            exc = _forced_error(faults)
            if faults.after_effect:
                await handler(request)
            return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    response: web.StreamResponse = await handler(request)
    return response


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    request.app[FAULTS_KEY].clear()
    request.app[LIMITER_KEY].reset()
    server = request.app[SERVER_KEY]
    if server is not None:
        server.seed()
    return web.json_response({"success": True})


async def set_faults(request: web.Request) -> web.Response:
    body = await request.json()
    faults = request.app[FAULTS_KEY]
    if "status" in body:
        faults.status = int(body["status"])
        faults.count = int(body.get("count", 1))
        faults.reset_ms = int(body.get("reset_ms", 1000))
        faults.path = str(body.get("path", "/api/"))
        faults.after_effect = bool(body.get("after_effect", False))
    if "latency_ms" in body:
        faults.latency_ms = int(body["latency_ms"])
    down = float(body.get("down_seconds", 0))
    if down > 0 and request.app[SERVER_KEY] is not None:
        # Go down after this answer is sent, so the caller learns the fault was accepted.
        server = request.app[SERVER_KEY]
        server.schedule_outage(down)
    return web.json_response({"success": True})


async def set_settings(request: web.Request) -> web.Response:
    request.app[STATE_KEY].settings.update(await request.json())
    request.app[LIMITER_KEY].reset()
    return web.json_response({"success": True})


async def set_permissions(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE_KEY].permissions.update({k: list(v) for k, v in body.items()})
    return web.json_response({"success": True})


async def dump_state(request: web.Request) -> web.Response:
    data = request.app[STATE_KEY].to_json()
    data.pop("uploads", None)
    return web.json_response(data)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/reset", reset)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_post("/_sim/settings", set_settings)
    app.router.add_post("/_sim/permissions", set_permissions)
    app.router.add_get("/_sim/state", dump_state)
