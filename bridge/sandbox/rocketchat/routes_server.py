"""Server-wide routes: ``GET /api/info`` and the admin settings API ``settings/:_id``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat.access import authed, has_permission, json_body, require_permission
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.permissions import PUBLIC_SETTINGS
from bridge.sandbox.rocketchat.responses import APIError, invalid_params, success
from bridge.sandbox.rocketchat.state import SimState

# The release the simulator stands in for (what the bridge was checked against).
VERSION = "7.10.0"
# apps/meteor/app/utils/rocketchat.info: the oldest apps this server still serves.
MINIMUM_CLIENT_VERSIONS = {"desktop": "3.9.6", "mobile": "4.39.0"}


async def info(request: web.Request) -> web.Response:
    """No login needed. Everyone gets ``major.minor``; with ``view-statistics`` the full
    version and an ``info`` block (apps/meteor/app/api/server/lib/getServerInfo.ts)."""
    state = request.app[STATE_KEY]
    body: dict[str, Any] = {
        "version": VERSION.rsplit(".", 1)[0],
        "minimumClientVersions": dict(MINIMUM_CLIENT_VERSIONS),
    }
    user_id = request.headers.get("X-User-Id")
    token = request.headers.get("X-Auth-Token")
    user = state.user_by_token(user_id, token) if user_id and token else None
    if user is not None and has_permission(state, user, "view-statistics"):
        body["version"] = VERSION
        body["info"] = {
            "version": VERSION,
            "build": {"nodeVersion": "v22.16.0", "arch": "x64", "platform": "linux"},
            "marketplaceApiVersion": "1.54.0",
        }
    return success(body)


def _no_such_setting() -> APIError:
    # ``API.v1.failure()`` without a message: just ``{"success": false}``.
    return APIError(400, {"success": False})


async def get_setting(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "view-privileged-setting")
    setting_id = request.match_info["_id"]
    if setting_id not in state.settings:
        raise _no_such_setting()
    return success({"_id": setting_id, "value": state.settings[setting_id]})


async def set_setting(request: web.Request) -> web.Response:
    """``POST settings/:_id {"value": ...}``: admins only (``edit-privileged-setting``,
    403 otherwise); an unknown id is a bare 400 failure (apps/meteor/app/api/server/v1/
    settings.ts). The new value must have the type of the old one."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "edit-privileged-setting")
    setting_id = request.match_info["_id"]
    body = await json_body(request)
    if setting_id not in state.settings:
        raise _no_such_setting()
    if "value" not in body:
        raise invalid_params("must have required property 'value'")
    value = _coerce(state.settings[setting_id], body["value"])
    change_setting(state, setting_id, value)
    return success()


def _coerce(old: Any, new: Any) -> Any:
    """Settings are typed (boolean, int, string, select); a value of another type is
    refused, an int setting also takes a number (a fractional day count, for tests)."""
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise invalid_params("/value must be boolean")
        return new
    if isinstance(old, int | float):
        if isinstance(new, bool) or not isinstance(new, int | float):
            raise invalid_params("/value must be number")
        return new
    if not isinstance(new, str):
        raise invalid_params("/value must be string")
    return new


def change_setting(state: SimState, setting_id: str, value: Any) -> None:
    """Store and announce: ``public-settings-changed`` for public settings
    (stream-notify-all, args ``["updated", {_id, value}]``)."""
    state.settings[setting_id] = value
    if setting_id in PUBLIC_SETTINGS:
        state.emit("setting", {"args": ["updated", {"_id": setting_id, "value": value}]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/info", info)
    app.router.add_get("/api/v1/settings/{_id}", get_setting)
    app.router.add_post("/api/v1/settings/{_id}", set_setting)
