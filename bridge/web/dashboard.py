"""The admin dashboard: a sub-application mounted at ``web.path`` on the bridge's HTTP
server, with one middleware that authenticates, checks CSRF, and answers every error.

Pages are server-rendered (Jinja2, autoescaped) from the same dicts the JSON API returns
(``bridge.web.views``). docs/audit.md lists the routes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bridge.config import Config
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.exports import Exporter
from bridge.storage.database import Database
from bridge.web.api import ApiRoutes
from bridge.web.auth import (
    SESSION_COOKIE,
    OpenIdVerifier,
    Session,
    SessionCodec,
    same_secret,
)
from bridge.web.deps import ACTOR, DEPS, SESSION, Deps
from bridge.web.incident_pages import IncidentPages
from bridge.web.outbox_pages import OutboxPages
from bridge.web.pages import PageRoutes
from bridge.web.partner_pages import PartnerPages
from bridge.web.responses import SECURITY_HEADERS, DashboardError, api_error, redirect
from bridge.web.retention_page import RetentionPage
from bridge.web.throttle import FailedLogins, LoginThrottle, parse_networks
from bridge.web.views import ConflictError, DashboardData, NotFoundError
from bridge.workers.dead_letters import DeadLetters

log = logging.getLogger(__name__)

API_TOKEN_ACTOR = "api:admin-token"  # noqa: S105 - an actor name, not a secret
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC = Path(__file__).parent / "static"


def _public(deps: Deps, request: web.Request) -> bool:
    rest = request.path[len(deps.prefix) :]
    return rest in ("/login",) or rest.startswith("/static/")


def _is_api(deps: Deps, request: web.Request) -> bool:
    return request.path.startswith(deps.prefix + "/api/") or request.path == deps.prefix + "/api"


def _authenticate(deps: Deps, request: web.Request) -> tuple[str, Session | None] | None:
    session = deps.codec.read(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        return session.actor, session
    presented = _bearer(deps, request)
    # Scripts may call the API with the admin token itself: no ambient cookie, so no
    # cross-site request can carry it, and no CSRF token is needed.
    if presented is not None and same_secret(presented, deps.admin_token):
        return API_TOKEN_ACTOR, None
    return None


def _bearer(deps: Deps, request: web.Request) -> str | None:
    """The token of an API call's ``Authorization: Bearer`` header, if it has one."""
    header = request.headers.get("Authorization", "")
    if _is_api(deps, request) and header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return None


async def _refused(deps: Deps, request: web.Request, api: bool) -> web.StreamResponse:
    presented = _bearer(deps, request)
    if presented is not None:
        # Checked (and wrong) before any throttle: a right token is never held back.
        verdict = await deps.failed_logins.record(request, "api:anonymous", "bearer", presented)
        if verdict.throttled:
            return api_error(429, "too many failed logins; wait a minute")
    if api:
        return api_error(401, "log in first (session cookie or Bearer token)")
    return _login_redirect(deps, request)


async def _check_csrf(request: web.Request, session: Session) -> None:
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        given = str((await request.post()).get("csrf", ""))
    if not same_secret(given, session.csrf):
        raise DashboardError(403, "missing or wrong CSRF token; reload the page and try again")


def _login_redirect(deps: Deps, request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else deps.prefix + "/"
    return redirect(f"{deps.prefix}/login?next={_quote(target)}")


def _quote(text: str) -> str:
    return quote(text, safe="/")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    deps = request.app[DEPS]
    api = _is_api(deps, request)
    try:
        if not _public(deps, request):
            who = _authenticate(deps, request)
            if who is None:
                return _secure(await _refused(deps, request, api))
            request[ACTOR], request[SESSION] = who
            if request.method not in ("GET", "HEAD") and who[1] is not None:
                await _check_csrf(request, who[1])
        response = await handler(request)
    except web.HTTPRedirection as e:
        response = web.Response(status=e.status, headers=e.headers)
    except web.HTTPException as e:
        response = _error(deps, request, api, e.status, e.reason)
    except DashboardError as e:
        response = _error(deps, request, api, e.status, e.message)
    except NotFoundError as e:
        response = _error(deps, request, api, 404, str(e))
    except ConflictError as e:
        response = _error(deps, request, api, 409, str(e))
    except Exception:  # the HTTP boundary: log once with context, answer 500
        log.exception("Dashboard request %s %s failed", request.method, request.path)
        response = _error(deps, request, api, 500, "internal error; see the bridge's log")
    return _secure(response)


def _error(deps: Deps, request: web.Request, api: bool, status: int, message: str) -> web.Response:
    if api:
        return api_error(status, message)
    return deps.render(request, "error.html", status=status, status_code=status, message=message)


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def build_dashboard(
    config: Config,
    db: Database,
    erasure: ErasureEngine | None,
    verifier: OpenIdVerifier | None = None,
) -> web.Application:
    web_config = config.web
    key = (web_config.session_secret or secrets.token_hex(32)).encode()
    admins = config.privacy.admins if web_config.admins is None else web_config.admins
    templates = Environment(
        loader=PackageLoader("bridge.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    deps = Deps(
        prefix=web_config.path,
        admin_token=web_config.admin_token,
        admins=frozenset(a for a in admins if a.startswith("@")),
        cookie_secure=web_config.cookie_secure,
        codec=SessionCodec(key, web_config.session_minutes * 60),
        verifier=verifier
        or OpenIdVerifier(web_config.openid_servers, verify_ssl=config.homeserver.verify_ssl),
        failed_logins=FailedLogins(
            AuditLog(db), parse_networks(web_config.trusted_proxies), LoginThrottle()
        ),
        data=DashboardData(db, erasure),
        exporter=Exporter(db),
        audit=AuditLog(db),
        templates=templates,
    )
    app = web.Application(middlewares=[guard])
    app[DEPS] = deps
    PageRoutes(deps).add_routes(app.router)
    OutboxPages(deps, DeadLetters(db)).add_routes(app.router)
    RetentionPage(deps, db).add_routes(app.router)
    PartnerPages(deps, db, config.privacy.unknown_servers).add_routes(app.router)
    IncidentPages(deps, db).add_routes(app.router)
    ApiRoutes(deps).add_routes(app.router)
    app.router.add_static("/static/", STATIC)
    return app


def mount_dashboard(
    app: web.Application,
    config: Config,
    db: Database,
    erasure: ErasureEngine | None,
    verifier: OpenIdVerifier | None = None,
) -> None:
    """Serve the dashboard at ``web.path`` on ``app`` when ``web.enabled``."""
    if config.web.enabled:
        app.add_subapp(config.web.path, build_dashboard(config, db, erasure, verifier))
        log.info("Admin dashboard at %s", config.web.path)
