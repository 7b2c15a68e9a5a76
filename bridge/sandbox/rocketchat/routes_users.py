"""users.create / info / list / setAvatar / delete (rocketchat-api.md §3)."""

from __future__ import annotations

import html

from aiohttp import web

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
    target.avatar_url = required_str(body, "avatarUrl")
    target.updated_at = state.now_ms()
    return success()


async def users_update(request: web.Request) -> web.Response:
    """Name, username and active flag (what the bridge's erasure uses); §3."""
    state = request.app[STATE_KEY]
    caller = await authed(request)
    body = await json_body(request)
    target = _lookup(state, required_str(body, "userId"), None)
    data = body.get("data")
    if not isinstance(data, dict):
        raise invalid_params("must have required property 'data'")
    if target.id != caller.id:
        # Rocket.Chat's default grants it to admins (permissions upsert list, §3).
        state.permissions.setdefault("edit-other-user-info", ["admin"])
        require_permission(state, caller, "edit-other-user-info")
    username = data.get("username")
    if isinstance(username, str) and username != target.username:
        if state.user_by_name(username):
            raise meteor_error("error-field-unavailable", f"{username} is already in use :(")
        target.username = username
    if isinstance(data.get("name"), str):
        target.name = data["name"]
    if isinstance(data.get("active"), bool):
        target.active = data["active"]
    target.updated_at = state.now_ms()
    return success({"user": target.document()})


async def users_reset_avatar(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    body = await json_body(request)
    target = _lookup(state, body.get("userId"), body.get("username"))
    if target.id != caller.id and not has_permission(state, caller, "edit-other-user-avatar"):
        raise meteor_error("error-not-allowed", "Not allowed")
    target.avatar_url = None
    target.updated_at = state.now_ms()
    return success()


async def users_delete(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    caller = await authed(request)
    require_permission(state, caller, "delete-user")
    body = await json_body(request)
    target = _lookup(state, body.get("userId"), body.get("username"))
    if target.username == "rocket.cat":
        raise meteor_error(
            "error-action-not-allowed", "Deleting the rocket.cat user is not allowed"
        )
    # Message_ErasureType default "Delete": the user's messages go too (§3).
    for doc in [d for d in state.messages.values() if d["u"]["_id"] == target.id]:
        del state.messages[doc["_id"]]
        state.trash[doc["_id"]] = {
            "_id": doc["_id"],
            "rid": doc["rid"],
            "_deletedAt": state.now_ms(),
        }
    dms = [r for r in state.rooms.values() if r.t == "d" and target.id in r.members]
    deleted_rooms = [r.document(state) for r in dms]  # DMs with the user go too (§3)
    for room in dms:
        del state.rooms[room.id]
    for room in state.rooms.values():
        if target.id in room.members:
            room.members.remove(target.id)
    del state.users[target.id]
    return success({"deletedRooms": deleted_rooms})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/users.create", users_create)
    app.router.add_get("/api/v1/users.info", users_info)
    app.router.add_get("/api/v1/users.list", users_list)
    app.router.add_post("/api/v1/users.setAvatar", users_set_avatar)
    app.router.add_post("/api/v1/users.delete", users_delete)
    app.router.add_post("/api/v1/users.update", users_update)
    app.router.add_post("/api/v1/users.resetAvatar", users_reset_avatar)
