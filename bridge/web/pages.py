"""The dashboard's HTML pages and its login, over ``DashboardData``."""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping

from aiohttp import web

from bridge.privacy import audit
from bridge.privacy.exports import FORMATS, WHATS
from bridge.privacy.queries import AmbiguousSubjectError, SubjectNotFoundError
from bridge.web import charts
from bridge.web.auth import LOGIN_COOKIE, SESSION_COOKIE, TOKEN_ACTOR, same_secret
from bridge.web.deps import ACTOR, Deps
from bridge.web.responses import DashboardError, redirect

STATES = ("received", "verified", "approved", "planned", "executing", "done",
          "partially_done", "denied", "cancelled")  # fmt: skip
LOGIN_METHODS = ("token", "openid")
CHARTED = 8  # recipients drawn on the overview; the rest are in the tables


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DashboardError(400, f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise DashboardError(400, f"{name} must be between {lo} and {hi}")
    return value


def safe_next(prefix: str, target: str | None) -> str:
    """Only a path inside the dashboard: never another site (open redirect)."""
    if target and target.startswith(prefix + "/") and "//" not in target and "\\" not in target:
        return target
    return prefix + "/"


class PageRoutes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/login", self.login_form)
        router.add_post("/login", self.login)
        router.add_post("/logout", self.logout)
        router.add_get("/", self.overview)
        router.add_get("/servers/{name}", self.server)
        router.add_get("/subjects", self.subject_form)
        router.add_post("/subjects", self.subject)
        router.add_get("/requests", self.requests)
        router.add_get("/requests/{id}", self.request)
        router.add_post("/requests/{id}/approve", self.approve)
        router.add_post("/requests/{id}/deny", self.deny)
        router.add_get("/audit", self.audit)
        router.add_get("/exports", self.exports_form)
        router.add_post("/exports", self.export)

    # -- login ---------------------------------------------------------------------------

    async def login_form(self, request: web.Request, error: str | None = None) -> web.Response:
        # Double-submit token: a cross-site page cannot read our cookie to fill the form.
        token = secrets.token_urlsafe(24)
        status = 401 if error else 200
        response = self.d.render(
            request,
            "login.html",
            status=status,
            login_csrf=token,
            next=safe_next(self.d.prefix, request.query.get("next")),
            error=error,
            token_login=self.d.admin_token is not None,
            matrix_login=bool(self.d.admins),
        )
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=1800, path=self.d.prefix, httponly=True,
            samesite="Strict", secure=self.d.cookie_secure,
        )  # fmt: skip
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not same_secret(str(form.get("login_csrf", "")), request.cookies.get(LOGIN_COOKIE)):
            return await self.login_form(request, "The login form expired; try again.")
        method = str(form.get("method", "token"))
        method = method if method in LOGIN_METHODS else "other"
        # The credential is checked before any throttle, so the right one always gets in,
        # even from an address (or a proxy) someone else is guessing from.
        actor = await self._check_login(method, form)
        if actor is None:
            presented = str(form.get("user_id" if method == "openid" else "token", ""))
            verdict = await self.d.failed_logins.record(request, "web:anonymous", method, presented)
            if verdict.throttled:
                raise DashboardError(429, "too many failed logins; wait a minute")
            return await self.login_form(request, "Login refused.")
        await self.d.audit.record(audit.ADMIN_LOGIN, actor, None, {"method": method})
        value, _ = self.d.codec.issue(actor)
        response = redirect(safe_next(self.d.prefix, str(form.get("next", ""))))
        response.set_cookie(
            SESSION_COOKIE, value, max_age=self.d.codec.lifetime_s, path=self.d.prefix,
            httponly=True, samesite="Strict", secure=self.d.cookie_secure,
        )  # fmt: skip
        response.del_cookie(LOGIN_COOKIE, path=self.d.prefix)
        return response

    async def _check_login(self, method: str, form: Mapping[str, object]) -> str | None:
        get = form.get
        if method == "token":
            ok = same_secret(str(get("token", "")), self.d.admin_token)
            return TOKEN_ACTOR if ok else None
        if method == "openid":
            user_id = str(get("user_id", "")).strip()
            if user_id not in self.d.admins:
                return None
            ok = await self.d.verifier.verify(user_id, str(get("openid_token", "")).strip())
            return user_id if ok else None
        return None

    async def logout(self, _request: web.Request) -> web.StreamResponse:
        response = redirect(f"{self.d.prefix}/login")
        response.del_cookie(SESSION_COOKIE, path=self.d.prefix)
        return response

    # -- pages ---------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        days = _int(request, "days", 30, 1, 366)
        data = await self.d.data.overview(request[ACTOR], "dashboard overview", days)
        flow_charts = [
            (s, charts.day_bars(data["days"], s["items"], s["recipient"]))
            for s in data["flows"][:CHARTED]
        ]
        by_items = charts.ranking(
            [(s["recipient"], s["items"]) for s in data["top_by_items"]], "items"
        )
        by_subjects = charts.ranking(
            [(s["recipient"], s["subjects"] or 0) for s in data["top_by_subjects"]], "subjects"
        )
        return self.d.render(
            request, "overview.html", data=data, days=days, flow_charts=flow_charts,
            by_items=by_items, by_subjects=by_subjects,
        )  # fmt: skip

    async def server(self, request: web.Request) -> web.Response:
        limit = _int(request, "limit", 100, 1, 1000)
        data = await self.d.data.server(
            request.match_info["name"], request.query.get("after"), limit
        )
        return self.d.render(request, "server.html", data=data)

    async def subject_form(self, request: web.Request) -> web.Response:
        return self.d.render(request, "subjects.html", data=None, query="", error=None)

    async def subject(self, request: web.Request) -> web.Response:
        query = str((await request.post()).get("subject", "")).strip()
        if not query:
            raise DashboardError(400, "enter a Matrix user id, Rocket.Chat user id or username")
        try:
            data = await self.d.data.subject(query, request[ACTOR], "dashboard")
        except (SubjectNotFoundError, AmbiguousSubjectError) as e:
            return self.d.render(
                request, "subjects.html", status=404, data=None, query=query, error=str(e.args[0])
            )
        return self.d.render(request, "subjects.html", data=data, query=query, error=None)

    async def requests(self, request: web.Request) -> web.Response:
        state = request.query.get("state") or None
        if state is not None and state not in STATES:
            raise DashboardError(400, "unknown state")
        data = await self.d.data.requests(state, request[ACTOR], "dashboard requests")
        return self.d.render(request, "requests.html", data=data, states=STATES)

    async def request(self, request: web.Request) -> web.Response:
        data = await self.d.data.request(
            request.match_info["id"], request[ACTOR], "dashboard request"
        )
        return self.d.render(request, "request.html", data=data, done=request.query.get("done"))

    async def approve(self, request: web.Request) -> web.StreamResponse:
        return await self._decide(request, approve=True)

    async def deny(self, request: web.Request) -> web.StreamResponse:
        return await self._decide(request, approve=False)

    async def _decide(self, request: web.Request, *, approve: bool) -> web.StreamResponse:
        request_id = request.match_info["id"]
        reason = str((await request.post()).get("reason", "")).strip()
        if not approve and not reason:
            raise DashboardError(
                400, "a denial needs a reason (GDPR Art. 12(4): the person is told why)"
            )
        done = await self.d.data.decide(request_id, request[ACTOR], approve, reason[:500])
        return redirect(f"{self.d.prefix}/requests/{request_id}?done={done}")

    async def audit(self, request: web.Request) -> web.Response:
        before = _int(request, "before", 0, 0, 2**62) or None
        kind = request.query.get("kind") or None
        data = await self.d.data.audit_entries(before, 100, kind)
        check = await self.d.data.verify() if request.query.get("verify") else None
        return self.d.render(
            request, "audit.html", data=data, check=check, kind=kind, kinds=audit.KINDS
        )

    async def exports_form(self, request: web.Request) -> web.Response:
        return self.d.render(request, "exports.html", whats=WHATS, formats=FORMATS)

    async def export(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        what, fmt = str(form.get("what", "")), str(form.get("format", ""))
        return await export_response(self.d, request[ACTOR], what, fmt)


async def export_response(deps: Deps, actor: str, what: str, fmt: str) -> web.Response:
    """A download; the export is recorded in the audit log with its SHA-256."""
    if what not in WHATS or fmt not in FORMATS:
        raise DashboardError(400, f"export what={'|'.join(WHATS)} format={'|'.join(FORMATS)}")
    out = io.StringIO()
    await deps.exporter.export(what, fmt, out, actor=actor)
    content_type = "text/csv" if fmt == "csv" else "application/json"
    return web.Response(
        text=out.getvalue(),
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{what}.{fmt}"'},
    )
