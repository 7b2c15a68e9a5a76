"""login / logout / me (docs/rocketchat-notes.md)."""

from __future__ import annotations

import secrets

from aiohttp import web

from bridge.sandbox.rocketchat.access import authed, json_body
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import APIError, success
from bridge.sandbox.rocketchat.state import SimState, SimUser


def _login_failed() -> APIError:
    # Compat-mode 401; a wrong password and an unknown user look the same ("User not found"
    # is reported as "Unauthorized").
    return APIError(
        401,
        {"success": False, "status": "error", "error": "Unauthorized", "message": "Unauthorized"},
    )


def _find(state: SimState, body: dict[str, object]) -> SimUser | None:
    if isinstance(body.get("resume"), str):
        token = str(body["resume"])
        return next(
            (
                u
                for u in state.users.values()
                if any(secrets.compare_digest(t, token) for t in u.tokens)
            ),
            None,
        )
    name = body.get("user") or body.get("username") or body.get("email")
    password = body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        return None
    user = state.user_by_name(name) or next(
        (u for u in state.users.values() if u.email == name), None
    )
    if user is None or not secrets.compare_digest(user.password, password):
        return None
    return user


def me_document(user: SimUser, base_url: str) -> dict[str, object]:
    doc = user.document()
    doc.update(
        statusConnection="offline",
        utcOffset=0,
        settings={"preferences": {}},
        avatarUrl=user.avatar_url or f"{base_url}/avatar/{user.username}",
    )
    return doc


async def login(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await json_body(request)
    user = _find(state, body)
    if user is None or not user.active:
        raise _login_failed()
    token = body["resume"] if isinstance(body.get("resume"), str) else secrets.token_urlsafe(32)
    if token not in user.tokens:
        user.tokens.append(str(token))
    base = f"{request.scheme}://{request.host}"
    data = {"authToken": token, "userId": user.id, "me": me_document(user, base)}
    return success({"status": "success", "data": data})


async def logout(request: web.Request) -> web.Response:
    user = await authed(request)
    token = request.headers["X-Auth-Token"]
    user.tokens = [t for t in user.tokens if t != token]
    return success({"status": "success", "data": {"message": "You've been logged out!"}})


async def me(request: web.Request) -> web.Response:
    user = await authed(request)
    return success(me_document(user, f"{request.scheme}://{request.host}"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/login", login)
    app.router.add_post("/api/v1/logout", logout)
    app.router.add_get("/api/v1/logout", logout)
    app.router.add_get("/api/v1/me", me)
