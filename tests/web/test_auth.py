"""Every page and API route refuses a missing or wrong login; logins, sessions and CSRF."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.privacy.pseudonyms import existing_in
from bridge.storage.database import Database
from bridge.web.auth import SESSION_COOKIE, SessionCodec
from bridge.web.dashboard import build_dashboard
from tests.web.conftest import Site
from tests.web.seed import ADMIN_TOKEN, OFFICER, dashboard_config, seed, serve

PUBLIC = {"/admin/login"}


def routes(site: Site) -> list[tuple[str, str]]:
    """Every (method, path) the dashboard serves, read from its router: a route added
    later is covered without editing this test."""
    app = build_dashboard(site.config, site.db, site.engine)
    fill = {"{name}": "hs2.test", "{id}": site.seeded.approve_id, "{what}": "flows",
            "{incident}": site.seeded.incident_id, "{fmt}": "json"}  # fmt: skip
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method == "HEAD":
            continue  # the static directory
        for key, value in fill.items():
            path = path.replace(key, value)
        out.add((route.method, "/admin" + path))
    return sorted(r for r in out if r[1] not in PUBLIC)


async def login(client: TestClient[web.Request, web.Application], token: str = ADMIN_TOKEN) -> str:
    """Log in with the token through the form; the session's CSRF token."""
    form = await client.get("/admin/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', await form.text())
    assert login_csrf
    resp = await client.post(
        "/admin/login",
        data={
            "login_csrf": login_csrf.group(1),
            "method": "token",
            "token": token,
            "next": "/admin/",
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    page = await client.get("/admin/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf
    return csrf.group(1)


async def test_the_route_table_covers_every_page_and_the_api(site: Site) -> None:
    table = routes(site)
    paths = {p for _, p in table}
    assert "/admin/" in paths and "/admin/api/overview" in paths
    assert ("POST", f"/admin/requests/{site.seeded.approve_id}/approve") in table
    assert len(table) >= 24


@pytest.mark.parametrize(
    "credentials",
    ["none", "wrong bearer", "forged cookie", "expired cookie", "cookie signed with another key"],
)
async def test_every_route_refuses_a_missing_or_wrong_login(site: Site, credentials: str) -> None:
    codec = SessionCodec(b"session-secret-for-tests-0123456789", 60)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if credentials == "wrong bearer":
        headers["Authorization"] = "Bearer " + ADMIN_TOKEN[:-1] + "X"
    elif credentials == "forged cookie":
        value, _ = codec.issue(OFFICER)
        payload, sig = value.split(".")
        cookies[SESSION_COOKIE] = payload + "." + sig[:-2] + "AA"
    elif credentials == "expired cookie":
        cookies[SESSION_COOKIE] = codec.issue(OFFICER, now=1000.0)[0]
    elif credentials == "cookie signed with another key":
        cookies[SESSION_COOKIE] = SessionCodec(b"k" * 32, 600).issue(OFFICER)[0]
    client = site.client
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(cookies)
    before = len(await AuditLog(site.db).newest(limit=1000))
    for method, path in routes(site):
        resp = await client.request(method, path, headers=headers, allow_redirects=False)
        body = await resp.text()
        if "/api/" in path:
            # A wrong bearer token is a failed login: throttled (429) after a few.
            allowed = (401, 429) if credentials == "wrong bearer" else (401,)
            assert resp.status in allowed, (method, path, resp.status)
            assert '"unauthorized"' in body or '"too_many_attempts"' in body
        else:
            assert resp.status == 303, (method, path, resp.status)
            assert resp.headers["Location"].startswith("/admin/login")
        assert "alice" not in body and "hs2.test" not in body
    # Nothing was looked up, approved or exported on the strength of a bad login; only
    # the refusals themselves are recorded.
    after = await AuditLog(site.db).newest(limit=1000)
    assert {e.kind for e in after[: len(after) - before]} <= {audit.ADMIN_LOGIN_REFUSED}
    status = await site.engine.status(site.seeded.approve_id)
    assert status.state.value == "verified"


async def test_token_login_opens_every_page(site: Site) -> None:
    await login(site.client)
    for method, path in routes(site):
        if method != "GET" or "/api/" in path:
            continue
        resp = await site.client.get(path, allow_redirects=False)
        assert resp.status == 200, (path, resp.status)
    entries = await AuditLog(site.db).newest(kind=audit.ADMIN_LOGIN)
    assert entries[0].actor == "web:admin-token"


async def test_a_wrong_token_is_refused_and_recorded(site: Site) -> None:
    with pytest.raises(AssertionError):
        await login(site.client, "not-the-token")
    assert (await site.client.get("/admin/", allow_redirects=False)).status == 303
    refused = await AuditLog(site.db).newest(kind=audit.ADMIN_LOGIN_REFUSED)
    assert refused and refused[0].details["method"] == "token"
    assert "not-the-token" not in str(refused[0].details)


async def test_session_cookie_is_httponly_strict_and_path_scoped(site: Site) -> None:
    form = await site.client.get("/admin/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', await form.text())
    assert token
    resp = await site.client.post(
        "/admin/login",
        data={"login_csrf": token.group(1), "method": "token", "token": ADMIN_TOKEN},
        allow_redirects=False,
    )
    cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith(SESSION_COOKIE))
    attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")}
    assert "httponly" in attributes and "path" in attributes
    assert attributes["samesite"].strip() == "SameSite=Strict"
    assert attributes["path"].strip() == "Path=/admin"
    assert "secure" not in attributes  # the tests set web.cookie_secure: false (plain http)


async def test_posts_without_the_csrf_token_are_refused(site: Site) -> None:
    csrf = await login(site.client)
    path = f"/admin/requests/{site.seeded.approve_id}/approve"
    for data in ({}, {"csrf": "wrong"}):
        resp = await site.client.post(path, data=data, allow_redirects=False)
        assert resp.status == 403
    assert (await site.engine.status(site.seeded.approve_id)).state.value == "verified"
    api = await site.client.post("/admin/api/subjects/lookup", json={"subject": "alice"})
    assert api.status == 403
    ok = await site.client.post(
        "/admin/api/subjects/lookup", json={"subject": "alice"}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status == 200


async def test_logout_ends_the_session(site: Site) -> None:
    csrf = await login(site.client)
    resp = await site.client.post("/admin/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await site.client.get("/admin/", allow_redirects=False)).status == 303


async def test_login_redirects_only_inside_the_dashboard(site: Site) -> None:
    form = await site.client.get("/admin/login?next=https://evil.test/")
    text = await form.text()
    assert 'name="next" value="/admin/"' in text
    token = re.search(r'name="login_csrf" value="([^"]+)"', text)
    assert token
    resp = await site.client.post(
        "/admin/login",
        data={
            "login_csrf": token.group(1),
            "method": "token",
            "token": ADMIN_TOKEN,
            "next": "//evil.test/admin/",
        },  # fmt: skip
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/admin/"


async def test_login_without_the_form_cookie_is_refused(site: Site) -> None:
    resp = await site.client.post(
        "/admin/login",
        data={"login_csrf": "x", "method": "token", "token": ADMIN_TOKEN},
        allow_redirects=False,
    )
    assert resp.status == 401
    assert SESSION_COOKIE not in resp.cookies


# -- Matrix OpenID ---------------------------------------------------------------------

TOKENS = {"good-openid-token": OFFICER, "someone-elses-token": "@intruder:hs1.test"}


@pytest_asyncio.fixture
async def homeserver() -> AsyncIterator[str]:
    """The organisation's homeserver's federation OpenID endpoint, on a loopback port."""

    async def userinfo(request: web.Request) -> web.Response:
        user = TOKENS.get(request.query.get("access_token", ""))
        if user is None:
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN"}, status=401)
        return web.json_response({"sub": user})

    app = web.Application()
    app.router.add_get("/_matrix/federation/v1/openid/userinfo", userinfo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.mark.parametrize(
    ("user_id", "token", "accepted"),
    [
        (OFFICER, "good-openid-token", True),
        (OFFICER, "wrong-token", False),
        (OFFICER, "someone-elses-token", False),  # the server vouches for another user
        ("@intruder:hs1.test", "someone-elses-token", False),  # not a configured admin
    ],
)
async def test_matrix_openid_login(
    db: Database, tmp_path: Path, homeserver: str, user_id: str, token: str, accepted: bool
) -> None:
    config = dashboard_config(tmp_path, db.url, openid_url=homeserver)
    await seed(db, config)
    async with serve(db, config) as (client, _):
        form = await client.get("/admin/login")
        text = await form.text()
        assert 'id="matrix-login"' in text
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', text)
        assert login_csrf
        resp = await client.post(
            "/admin/login",
            data={
                "login_csrf": login_csrf.group(1),
                "method": "openid",
                "user_id": user_id,
                "openid_token": token,
            },  # fmt: skip
            allow_redirects=False,
        )
        assert (resp.status == 303) is accepted
        page = await client.get("/admin/", allow_redirects=False)
        assert (page.status == 200) is accepted
        if accepted:
            assert OFFICER in await page.text()
            logins = await AuditLog(db).newest(kind=audit.ADMIN_LOGIN)
            # The admin is a person: named by pseudonym in the chain.
            assert logins[0].actor == await existing_in(db, OFFICER)
            assert OFFICER not in logins[0].actor
