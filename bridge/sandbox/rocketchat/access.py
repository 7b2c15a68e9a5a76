"""Authentication, permission and room-access checks of the simulator."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.ratelimit import enforce_rate_limit
from bridge.sandbox.rocketchat.responses import (
    APIError,
    failure,
    forbidden,
    invalid_params,
    unauthorized,
)
from bridge.sandbox.rocketchat.state import SimRoom, SimState, SimUser


def has_permission(
    state: SimState, user: SimUser, permission: str, room: SimRoom | None = None
) -> bool:
    roles = set(user.roles)
    if room is not None and user.id in room.owners:
        roles.add("owner")
    if room is not None and user.id in room.moderators:
        roles.add("moderator")
    return bool(roles & set(state.permissions.get(permission, [])))


def can_access(user: SimUser, room: SimRoom) -> bool:
    return room.t == "c" or user.id in room.members


async def authed(request: web.Request) -> SimUser:
    """The caller from ``X-User-Id``/``X-Auth-Token``, rate limit applied."""
    state = request.app[STATE_KEY]
    user_id = request.headers.get("X-User-Id")
    token = request.headers.get("X-Auth-Token")
    if not user_id or not token:
        raise unauthorized()
    user = state.user_by_token(user_id, token)
    if user is None or not user.active:
        raise unauthorized()
    bypass = has_permission(state, user, "api-bypass-rate-limit")
    enforce_rate_limit(request, bypass)
    return user


def require_permission(state: SimState, user: SimUser, permission: str) -> None:
    """Route-level ``permissionsRequired``: 403 in compat mode."""
    if not has_permission(state, user, permission):
        raise forbidden()


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise invalid_params("must be object") from exc
    if not isinstance(body, dict):
        raise invalid_params("must be object")
    return body


def required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        raise invalid_params(f"must have required property '{key}'")
    if not isinstance(value, str):
        raise invalid_params(f"/{key} must be string")
    return value


def room_from(
    state: SimState, user: SimUser, room_id: str | None, room_name: str | None
) -> SimRoom:
    """Look up a room by ``roomId``/``roomName`` and check the caller may read it."""
    if not room_id and not room_name:
        raise failure(
            'The parameter "roomId" or "roomName" is required [error-roomid-param-not-provided]',
            "error-roomid-param-not-provided",
        )
    room = state.rooms.get(room_id) if room_id else state.room_by_name(room_name or "")
    if room is None:
        raise failure(
            'The required "roomId" or "roomName" param provided does not match any '
            "channel [error-room-not-found]",
            "error-room-not-found",
        )
    if not can_access(user, room):
        raise failure("Not Allowed", "not-allowed")
    return room


def as_bool(value: Any, default: bool) -> bool:
    """rooms.cleanHistory accepts ``true | 'true' | 1 | '1'``."""
    if value is None:
        return default
    return value in (True, "true", 1, "1")


__all__ = ["APIError", "as_bool", "authed", "can_access", "has_permission", "json_body"]
