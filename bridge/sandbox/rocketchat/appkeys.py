"""Typed keys for the simulator's aiohttp application state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.sandbox.rocketchat.state import SimState

if TYPE_CHECKING:
    from bridge.sandbox.rocketchat.faults import Faults
    from bridge.sandbox.rocketchat.ratelimit import RateLimiter
    from bridge.sandbox.rocketchat.realtime import RealtimeHub

STATE_KEY = web.AppKey("state", SimState)
FAULTS_KEY: web.AppKey[Faults] = web.AppKey("faults")
LIMITER_KEY: web.AppKey[RateLimiter] = web.AppKey("limiter")
HUB_KEY: web.AppKey[RealtimeHub] = web.AppKey("hub")
# The running server (for "go down for N seconds"); Any to avoid an import cycle.
SERVER_KEY: web.AppKey[Any] = web.AppKey("server")
