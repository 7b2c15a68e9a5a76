"""Liveness, readiness and Prometheus metrics endpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.metrics import (
    INBOX_EVENTS,
    OUTBOX_DEAD,
    OUTBOX_FAILED,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    REGISTRY,
)
from bridge.privacy.audit import AuditLog
from bridge.storage.database import Database
from bridge.web.auth import same_secret
from bridge.web.oversight_metrics import OversightGauges
from bridge.web.throttle import FailedLogins, LoginThrottle

log = logging.getLogger(__name__)


def _bearer(request: web.Request) -> str | None:
    given = request.headers.get("Authorization", "")
    return given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else None


ReadinessCheck = Callable[[], Awaitable[str | None]]


class HealthRoutes:
    """``/_bridge/health/live`` says the process serves HTTP; ``ready`` that it can work."""

    def __init__(self, db: Database, checks: dict[str, ReadinessCheck] | None = None) -> None:
        self._db = db
        self._checks = checks or {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_bridge/health/live", self.live)
        app.router.add_get("/_bridge/health/ready", self.ready)

    async def live(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        problems: dict[str, str] = {}
        try:
            await self._db.ping()
        except Exception as e:  # a boundary: report, don't raise
            problems["database"] = type(e).__name__
        for name, check in self._checks.items():
            problem = await check()
            if problem is not None:
                problems[name] = problem
        if problems:
            return web.json_response({"status": "unavailable", "problems": problems}, status=503)
        return web.json_response({"status": "ok"})


class MetricsRoutes:
    """``GET /metrics``, for the bearer of ``token`` only when one is given.

    The figures name every recipient server and how much it received, so a listener
    reachable from the network must never serve them without the token.
    """

    def __init__(self, db: Database, token: str | None, failed: FailedLogins | None = None) -> None:
        self._db = db
        self._token = token
        self._failed = failed or FailedLogins(AuditLog(db), (), LoginThrottle())
        self._oversight = OversightGauges(db)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.metrics)

    async def metrics(self, request: web.Request) -> web.Response:
        if self._token is not None and not same_secret(_bearer(request), self._token):
            # A wrong token is a failed login like the dashboard's: throttled, audited.
            verdict = await self._failed.record(
                request, "metrics:anonymous", "bearer", _bearer(request) or ""
            )
            if verdict.throttled:
                return web.json_response({"error": "too many failed attempts"}, status=429)
            return web.json_response(
                {"error": "metrics need Authorization: Bearer <metrics.bearer_token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        await self._refresh_gauges()
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _refresh_gauges(self) -> None:
        # Gauges over durable state are read at scrape time, so they are right after a
        # restart and cost nothing between scrapes.
        try:
            for status, count in (await self._db.inbox.counts()).items():
                INBOX_EVENTS.labels(status).set(count)
            stats = await self._db.outbox.stats()
        except Exception:
            log.exception("Could not read queue sizes for /metrics")
            return
        OUTBOX_PENDING.set(stats.pending)
        OUTBOX_FAILED.set(stats.dead)
        OUTBOX_DEAD.clear()
        for kind, count in stats.dead_by_kind.items():
            OUTBOX_DEAD.labels(kind).set(count)
        oldest = stats.oldest_pending_ms
        OUTBOX_OLDEST_AGE.set(0 if oldest is None else max(0.0, time.time() - oldest / 1000))
        try:
            await self._oversight.refresh()
        except Exception:
            log.exception("Could not read the request log and ledger for /metrics")
