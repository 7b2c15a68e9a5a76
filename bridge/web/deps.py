"""What the dashboard's handlers share: settings, services and the page renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from jinja2 import Environment

from bridge.privacy.audit import AuditLog
from bridge.privacy.exports import Exporter
from bridge.web.auth import OpenIdVerifier, Session, SessionCodec
from bridge.web.throttle import FailedLogins
from bridge.web.views import DashboardData

# Keys of what the middleware learns about a request.
ACTOR = web.RequestKey("dashboard.actor", str)
# The cookie session; None when the API was called with the Bearer token.
SESSION: web.RequestKey[Session | None] = web.RequestKey("dashboard.session")


@dataclass
class Deps:
    prefix: str
    admin_token: str | None
    admins: frozenset[str]
    cookie_secure: bool
    codec: SessionCodec
    verifier: OpenIdVerifier
    failed_logins: FailedLogins
    data: DashboardData
    exporter: Exporter
    audit: AuditLog
    templates: Environment

    def render(
        self, request: web.Request, name: str, status: int = 200, **context: Any
    ) -> web.Response:
        session = request.get(SESSION)
        html = self.templates.get_template(name).render(
            base=self.prefix,
            actor=request.get(ACTOR),
            csrf=session.csrf if session else "",
            **context,
        )
        return web.Response(text=html, status=status, content_type="text/html")


DEPS = web.AppKey("dashboard", Deps)
