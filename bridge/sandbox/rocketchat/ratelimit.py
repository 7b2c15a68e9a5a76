"""REST rate limiter, modelled on ApiClass ``enforceRateLimit`` (docs/rocketchat-notes.md).

Key = client IP + route; limits from the settings ``API_Enable_Rate_Limiter_Limit_Calls_Default``
per ``API_Enable_Rate_Limiter_Limit_Time_Default`` ms; users with ``api-bypass-rate-limit``
are not limited. Responses carry ``X-RateLimit-*``; the reset is epoch **milliseconds**.
"""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat.responses import too_many_requests

_HEADERS_KEY: web.RequestKey[dict[str, str]] = web.RequestKey("rc_ratelimit_headers")


class RateLimiter:
    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], tuple[int, int]] = {}

    def reset(self) -> None:
        self.windows.clear()

    def hit(self, key: tuple[str, str], limit: int, window_ms: int) -> tuple[int, int]:
        """Count a call; return (calls left, reset epoch ms). Negative left = over limit."""
        now = int(time.time() * 1000)
        start, count = self.windows.get(key, (now, 0))
        if now - start >= window_ms:
            start, count = now, 0
        count += 1
        self.windows[key] = (start, count)
        return limit - count, start + window_ms


def enforce_rate_limit(request: web.Request, bypass: bool) -> None:
    from bridge.sandbox.rocketchat.appkeys import LIMITER_KEY, STATE_KEY  # noqa: PLC0415

    settings = request.app[STATE_KEY].settings
    if bypass or not settings.get("API_Enable_Rate_Limiter", True):
        return
    limit = int(settings["API_Enable_Rate_Limiter_Limit_Calls_Default"])
    window_ms = int(settings["API_Enable_Rate_Limiter_Limit_Time_Default"])
    key = (request.remote or "", f"{request.path}{request.method.lower()}")
    left, reset_ms = request.app[LIMITER_KEY].hit(key, limit, window_ms)
    if left < 0:
        seconds = max(1, math.ceil((reset_ms - time.time() * 1000) / 1000))
        raise too_many_requests(seconds, reset_ms, limit)
    request[_HEADERS_KEY] = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(left),
        "X-RateLimit-Reset": str(reset_ms),
    }


@web.middleware
async def ratelimit_headers_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.update(request.get(_HEADERS_KEY, {}))
    return response
