"""Listing and joining: channels.list, channels.list.joined, channels.join, rooms.get,
subscriptions.get (Rocket.Chat apps/meteor/app/api/server/v1/channels.ts, rooms.ts,
subscriptions.ts)."""

from __future__ import annotations

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import (
    authed,
    has_permission,
    json_body,
    require_permission,
    required_str,
)
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import failure, meteor_error, success
from bridge.sandbox.rocketchat.state import Doc, SimRoom, SimState, SimUser, parse_iso_ms


def _page(request: web.Request, docs: list[Doc], key: str) -> web.Response:
    """``offset``/``count`` as ``getPaginationItems`` reads them; ``count=0`` means all."""
    offset = int(request.query.get("offset", 0))
    count = int(request.query.get("count", 50))
    page = docs[offset : offset + count] if count else docs[offset:]
    return success({key: page, "count": len(page), "offset": offset, "total": len(docs)})


def _channels(state: SimState) -> list[SimRoom]:
    return sorted((r for r in state.rooms.values() if r.t == "c"), key=lambda r: r.name or "")


async def channels_list(request: web.Request) -> web.Response:
    """Every public channel; needs ``view-c-room`` or ``view-joined-room`` (channels.ts)."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    if not (
        has_permission(state, user, "view-c-room")
        or has_permission(state, user, "view-joined-room")
    ):
        require_permission(state, user, "view-c-room")
    rooms = _channels(state)
    if not has_permission(state, user, "view-c-room"):
        rooms = [r for r in rooms if user.id in r.members]
    return _page(request, [r.document(state) for r in rooms], "channels")


async def channels_list_joined(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    rooms = [r for r in _channels(state) if user.id in r.members]
    return _page(request, [r.document(state) for r in rooms], "channels")


async def channels_join(request: web.Request) -> web.Response:
    """``joinRoom``: a public channel only; the join adds a ``uj`` system message."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    room_id = required_str(body, "roomId")
    room = state.rooms.get(room_id)
    if room is None or room.t != "c":
        raise failure(
            'The required "roomId" or "roomName" param provided does not match any '
            "channel [error-room-not-found]",
            "error-room-not-found",
        )
    if user.id not in room.members:
        join_room(state, user, room)
    return success({"channel": room.document(state)})


def join_room(state: SimState, user: SimUser, room: SimRoom) -> None:
    """addUserToRoom for a self-join: membership, then ``t: 'uj'`` (msg = the username)."""
    room.members.append(user.id)
    room.updated_at = state.now_ms()
    ops.create_message(state, user, room, {"msg": user.username, "t": "uj"})
    ops.subscription_changed(state, room, user, "inserted")


def _rooms_of(state: SimState, user: SimUser) -> list[SimRoom]:
    return [r for r in state.rooms.values() if user.id in r.members]


async def rooms_get(request: web.Request) -> web.Response:
    """All rooms the caller is subscribed to; ``updatedSince`` keeps later changes only."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    since = request.query.get("updatedSince")
    try:
        since_ms = parse_iso_ms(since) if since else None
    except ValueError as exc:
        raise meteor_error(
            "error-updatedSince-param-invalid", "The updatedSince param is invalid"
        ) from exc
    rooms = [r for r in _rooms_of(state, user) if since_ms is None or r.updated_at > since_ms]
    return success({"update": [r.document(state) for r in rooms], "remove": []})


async def subscriptions_get(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    since = request.query.get("updatedSince")
    try:
        since_ms = parse_iso_ms(since) if since else None
    except ValueError as exc:
        raise meteor_error(
            "error-roomId-param-invalid", 'The "lastUpdate" query parameter must be a valid date.'
        ) from exc
    rooms = [r for r in _rooms_of(state, user) if since_ms is None or r.updated_at > since_ms]
    return success({"update": [r.subscription(state, user) for r in rooms], "remove": []})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/channels.list", channels_list)
    r.add_get("/api/v1/channels.list.joined", channels_list_joined)
    r.add_post("/api/v1/channels.join", channels_join)
    r.add_get("/api/v1/rooms.get", rooms_get)
    r.add_get("/api/v1/subscriptions.get", subscriptions_get)
