"""users.create / info / list / setAvatar / delete (docs/rocketchat-notes.md)."""

from __future__ import annotations

import hashlib
import html
import secrets

from aiohttp import web

from bridge.sandbox.rocketchat import privacy
from bridge.sandbox.rocketchat.access import (
    authed,
    has_permission,
    json_body,
    require_permission,
    required_str,
)
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import failure, invalid_params, meteor_error, success
from bridge.sandbox.rocketchat.state import SimState, SimUser


def _lookup(state: SimState, user_id: str | None, username: str | None) -> SimUser:
    user = state.users.get(user_id or "") if user_id else state.user_by_name(username or "")
    if user is None:
        raise failure("User not found.")
    return user


async def users_create(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    require_permission(state, caller, "create-user")
    body = await json_body(request)
    username = required_str(body, "username")
    for key in ("name", "email", "password"):
        required_str(body, key)
    # validateUserData.ts: checkUsernameAvailability (case-insensitive), then
    # checkEmailAvailability (case-insensitive); the field's value goes in the details.
    for value, taken in (
        (username, any(u.username.lower() == username.lower() for u in state.users.values())),
        (
            body["email"],
            any(u.email.lower() == body["email"].lower() for u in state.users.values()),
        ),
    ):
        if taken:
            raise meteor_error(
                "error-field-unavailable",
                f"{html.escape(value)} is already in use :(",
                {"method": "insertOrUpdateUser", "field": value},
            )
    roles = [str(r) for r in body.get("roles") or ["user"]]
    user = state.add_user(username, body["password"], roles, name=body["name"], email=body["email"])
    user.active = bool(body.get("active", True))
    doc = user.document()
    doc["services"] = {"password": {"bcrypt": "<hidden>"}}
    return success({"user": doc})


async def users_info(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await authed(request)
    keys = [k for k in ("userId", "username") if request.query.get(k)]
    if len(keys) != 1:
        raise invalid_params("must have either 'userId' or 'username'")
    user = _lookup(state, request.query.get("userId"), request.query.get("username"))
    return success({"user": user.document()})


async def users_list(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await authed(request)
    offset = int(request.query.get("offset", 0))
    count = int(request.query.get("count", 50))
    users = sorted(state.users.values(), key=lambda u: u.username)
    page = users[offset : offset + count] if count else users[offset:]
    return success(
        {
            "users": [u.document() for u in page],
            "count": len(page),
            "offset": offset,
            "total": len(users),
        }
    )


async def users_set_avatar(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    if not request.content_type.startswith("application/json"):
        raise failure("Missing Content-Type")
    body = await json_body(request)
    target = caller
    if body.get("userId") or body.get("username"):
        target = _lookup(state, body.get("userId"), body.get("username"))
    if target.id != caller.id and not has_permission(state, caller, "edit-other-user-avatar"):
        raise meteor_error("error-not-allowed", "Not allowed")
    if not state.settings["AllowUserAvatarChange"]:
        raise meteor_error("error-not-allowed", "Change avatar is not allowed")
    privacy.avatar_changed(state, target, required_str(body, "avatarUrl"))
    return success()


async def users_update(request: web.Request) -> web.Response:
    """Name, username and active flag (what the bridge's erasure uses)."""
    state = request.app[STATE_KEY]
    caller = await authed(request)
    body = await json_body(request)
    target = _lookup(state, required_str(body, "userId"), None)
    data = body.get("data")
    if not isinstance(data, dict):
        raise invalid_params("must have required property 'data'")
    if target.id != caller.id:
        # Rocket.Chat's default grants it to admins (permissions upsert list).
        state.permissions.setdefault("edit-other-user-info", ["admin"])
        require_permission(state, caller, "edit-other-user-info")
    username = data.get("username")
    if isinstance(username, str) and username != target.username:
        if state.user_by_name(username):
            raise meteor_error("error-field-unavailable", f"{username} is already in use :(")
    name = data.get("name")
    privacy.rename(
        state,
        target,
        username if isinstance(username, str) else None,
        name if isinstance(name, str) else None,
    )
    roles = data.get("roles")
    if isinstance(roles, list) and all(isinstance(r, str) for r in roles):
        require_permission(state, caller, "assign-roles")
        privacy.set_roles(state, target, roles)
    if isinstance(data.get("active"), bool):
        target.active = data["active"]
    return success({"user": target.document()})


async def users_reset_avatar(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    body = await json_body(request)
    target = _lookup(state, body.get("userId"), body.get("username"))
    if target.id != caller.id and not has_permission(state, caller, "edit-other-user-avatar"):
        raise meteor_error("error-not-allowed", "Not allowed")
    privacy.avatar_changed(state, target, None)
    return success()


async def users_delete(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    require_permission(state, caller, "delete-user")
    body = await json_body(request)
    target = _lookup(state, body.get("userId"), body.get("username"))
    confirm = body.get("confirmRelinquish") is True
    deleted = privacy.delete_user(state, target, confirm_relinquish=confirm)
    return success({"deletedRooms": deleted})


async def users_delete_own_account(request: web.Request) -> web.Response:
    """users.deleteOwnAccount: needs ``Accounts_AllowDeleteOwnAccount`` and the caller's
    password as a SHA-256 hex digest, any case (apps/meteor/app/api/server/v1/users.ts,
    apps/meteor/server/methods/deleteUserOwnAccount.ts)."""
    state = request.app[STATE_KEY]
    caller = await authed(request)
    body = await json_body(request)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise failure('Body parameter "password" is required.')
    if not state.settings["Accounts_AllowDeleteOwnAccount"]:
        raise meteor_error("error-not-allowed", "Not allowed")
    expected = hashlib.sha256(caller.password.encode()).hexdigest()
    if not secrets.compare_digest(expected, password.strip().lower()):
        raise meteor_error("error-invalid-password", "Invalid password")
    confirm = body.get("confirmRelinquish") is True
    privacy.delete_user(state, caller, confirm_relinquish=confirm)
    return success()


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/users.create", users_create)
    app.router.add_get("/api/v1/users.info", users_info)
    app.router.add_get("/api/v1/users.list", users_list)
    app.router.add_post("/api/v1/users.setAvatar", users_set_avatar)
    app.router.add_post("/api/v1/users.delete", users_delete)
    app.router.add_post("/api/v1/users.deleteOwnAccount", users_delete_own_account)
    app.router.add_post("/api/v1/users.update", users_update)
    app.router.add_post("/api/v1/users.resetAvatar", users_reset_avatar)
