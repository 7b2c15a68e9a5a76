"""rooms.*, channels.*, groups.* and im.*/dm.* (docs/rocketchat-notes.md)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import (
    as_bool,
    authed,
    has_permission,
    json_body,
    require_permission,
    required_str,
    room_from,
)
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import failure, invalid_params, meteor_error, success
from bridge.sandbox.rocketchat.state import SimRoom, SimState, parse_iso_ms, render_rest

Handler = Callable[[web.Request], Awaitable[web.Response]]
_KINDS = {"channels": ("c", "channel", "create-c"), "groups": ("p", "group", "create-p")}
_NAME_RE = re.compile(r"^[0-9a-zA-Z\-_.]+$")


async def rooms_info(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    room = room_from(state, user, request.query.get("roomId"), request.query.get("roomName"))
    return success({"room": room.document(state)})


def _typed_room(state: SimState, request: web.Request, t: str, room: SimRoom) -> SimRoom:
    if room.t != t:
        raise failure(
            'The required "roomId" or "roomName" param provided does not match any '
            "channel [error-room-not-found]",
            "error-room-not-found",
        )
    return room


def make_create(kind: str) -> Handler:
    t, key, permission = _KINDS[kind]

    async def create(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        require_permission(state, user, permission)
        body = await json_body(request)
        name = required_str(body, "name")
        if not _NAME_RE.match(name):
            raise meteor_error("error-invalid-room-name", f"{name} is not a valid room name")
        if state.room_by_name(name):
            raise meteor_error(
                "error-duplicate-channel-name", f"A channel with name '{name}' exists"
            )
        members = []
        for username in body.get("members") or []:
            member = state.user_by_name(str(username))
            if member is None:
                raise meteor_error("error-invalid-user", "Invalid user")
            members.append(member.id)
        room = state.add_room(t, name, user, members)
        room.ro = bool(body.get("readOnly", False))
        return success({key: room.document(state)})

    return create


def make_info(kind: str) -> Handler:
    t, key, _ = _KINDS[kind]

    async def info(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        room = room_from(state, user, request.query.get("roomId"), request.query.get("roomName"))
        return success({key: _typed_room(state, request, t, room).document(state)})

    return info


def make_invite(kind: str) -> Handler:
    t, key, _ = _KINDS[kind]

    async def invite(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        body = await json_body(request)
        room = _typed_room(
            state, request, t, room_from(state, user, body.get("roomId"), body.get("roomName"))
        )
        ids = [body["userId"]] if body.get("userId") else list(body.get("userIds") or [])
        ids += [u.id for n in body.get("usernames") or [] if (u := state.user_by_name(n))]
        if body.get("username") and (named := state.user_by_name(body["username"])):
            ids.append(named.id)
        if not ids:
            raise meteor_error(
                "error-users-params-not-provided", 'The "userId" or "userIds" param is required'
            )
        any_perm = "add-user-to-any-c-room" if t == "c" else "add-user-to-any-p-room"
        joined = user.id in room.members and has_permission(
            state, user, "add-user-to-joined-room", room
        )
        if not joined and not has_permission(state, user, any_perm):
            raise meteor_error("error-not-allowed", "Not allowed")
        for uid in ids:
            if uid not in state.users:
                raise meteor_error("error-invalid-user", "Invalid user")
            if uid not in room.members:
                room.members.append(uid)
                ops.subscription_changed(state, room, state.users[uid], "inserted")
                # addUserToRoom inserts a system message: t "au", msg = the added user's
                # username, u = who added them (server: createWithTypeRoomIdMessageUserAndUnread).
                ops.create_message(state, user, room, {"msg": state.users[uid].username, "t": "au"})
        room.updated_at = state.now_ms()
        return success({key: room.document(state)})

    return invite


def make_kick(kind: str) -> Handler:
    t, key, _ = _KINDS[kind]

    async def kick(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        body = await json_body(request)
        room = _typed_room(
            state, request, t, room_from(state, user, body.get("roomId"), body.get("roomName"))
        )
        target = state.users.get(str(body.get("userId") or ""))
        if target is None:
            raise meteor_error("error-invalid-user", "Invalid user")
        perm = "kick-user-from-any-c-room" if t == "c" else "kick-user-from-any-p-room"
        if not has_permission(state, user, perm) and not has_permission(
            state, user, "remove-user", room
        ):
            raise meteor_error("error-not-allowed", "Not allowed")
        if target.id in room.members:
            ops.subscription_changed(state, room, target, "removed")
            room.members.remove(target.id)
            # removeUserFromRoom inserts t "ru" (msg = removed username, u = remover).
            ops.create_message(state, user, room, {"msg": target.username, "t": "ru"})
        room.updated_at = state.now_ms()
        return success({key: room.document(state)})

    return kick


def make_members(t: str) -> Handler:
    async def members(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        room = room_from(state, user, request.query.get("roomId"), request.query.get("roomName"))
        _typed_room(state, request, t, room)
        offset = int(request.query.get("offset", 0))
        count = int(request.query.get("count", 50))
        all_members = [state.users[m] for m in room.members if m in state.users]
        page = all_members[offset : offset + count] if count else all_members[offset:]
        docs = [
            {"_id": u.id, "username": u.username, "name": u.name, "status": "offline"} for u in page
        ]
        return success(
            {"members": docs, "count": len(docs), "offset": offset, "total": len(all_members)}
        )

    return members


def make_history(t: str) -> Handler:
    async def history(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        room = _typed_room(
            state, request, t, room_from(state, user, request.query.get("roomId"), None)
        )
        q = request.query
        latest = parse_iso_ms(q["latest"]) if q.get("latest") else None
        oldest = parse_iso_ms(q["oldest"]) if q.get("oldest") else None
        inclusive = as_bool(q.get("inclusive"), False)
        count = int(q.get("count", 20))
        offset = int(q.get("offset", 0))

        def in_range(ts: int) -> bool:
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return oldest is None or ts > oldest or (ts == oldest and inclusive)

        docs = sorted(
            (
                d
                for d in state.messages.values()
                if d["rid"] == room.id and ops.visible(d) and in_range(int(d["ts"]))
            ),
            key=lambda d: -int(d["ts"]),
        )
        page = docs[offset : offset + count] if count else docs[offset:]
        return success({"messages": [render_rest(d) for d in page]})

    return history


def make_roles(kind: str) -> Handler:
    """``channels.roles`` / ``groups.roles``: room-scoped roles (owner, moderator) per user."""
    t, _, _ = _KINDS[kind]

    async def roles(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        room = _typed_room(
            state,
            request,
            t,
            room_from(state, user, request.query.get("roomId"), request.query.get("roomName")),
        )
        docs = []
        for uid in dict.fromkeys([*room.owners, *room.moderators]):
            member = state.users.get(uid)
            if member is None:
                continue
            held = [
                role
                for role, holders in (("owner", room.owners), ("moderator", room.moderators))
                if uid in holders
            ]
            docs.append(
                {"_id": f"{room.id}{uid}", "rid": room.id, "u": member.public(), "roles": held}
            )
        return success({"roles": docs})

    return roles


def make_add_role(kind: str, role: str) -> Handler:
    """``<kind>.addOwner`` / ``<kind>.addModerator`` (``set-owner`` / ``set-moderator``)."""
    t, _, _ = _KINDS[kind]

    async def add(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        user = await authed(request)
        body = await json_body(request)
        room = _typed_room(
            state, request, t, room_from(state, user, body.get("roomId"), body.get("roomName"))
        )
        if not has_permission(state, user, f"set-{role}", room):
            raise meteor_error("error-not-allowed", "Not allowed")
        target = state.users.get(str(body.get("userId") or ""))
        if target is None or target.id not in room.members:
            raise meteor_error("error-user-not-in-room", "User is not in this room")
        holders = room.owners if role == "owner" else room.moderators
        if target.id in holders:
            article = "an" if role == "owner" else "a"
            raise meteor_error(f"error-user-already-{role}", f"User is already {article} {role}")
        holders.append(target.id)
        # addRoomOwner.ts / addRoomModerator.ts: roles-change with the room as scope.
        who = {"_id": target.id, "username": target.username, "name": target.name}
        state.emit("user.roleUpdate", {"type": "added", "_id": role, "u": who, "scope": room.id})
        return success({})

    return add


async def im_create(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "create-d")
    body = await json_body(request)
    names = (
        [body["username"]] if body.get("username") else str(body.get("usernames", "")).split(",")
    )
    others = [state.user_by_name(n.strip()) for n in names if n.strip()]
    if not others or any(o is None for o in others):
        raise meteor_error("error-invalid-user", "Invalid user")
    member_ids = sorted({user.id, *(o.id for o in others if o)})
    room = next(
        (r for r in state.rooms.values() if r.t == "d" and sorted(r.members) == member_ids), None
    )
    if room is None:
        room = state.add_room("d", None, user, member_ids)
    doc = room.document(state)
    doc["rid"] = room.id
    return success({"room": doc})


async def clean_history(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    room_id = required_str(body, "roomId")
    for key in ("latest", "oldest"):
        required_str(body, key)
    if not has_permission(state, user, "clean-channel-history"):
        raise meteor_error("error-not-allowed", "Not allowed")
    room = state.rooms.get(room_id)
    if room is None or (room.t != "c" and user.id not in room.members):
        raise meteor_error("error-not-allowed", "User does not have access to the room")
    users = body.get("users") or []
    if not isinstance(users, list):
        raise invalid_params("/users must be array")
    prune = ops.Prune(
        oldest=parse_iso_ms(body["oldest"]),
        latest=parse_iso_ms(body["latest"]),
        inclusive=as_bool(body.get("inclusive"), False),
        exclude_pinned=as_bool(body.get("excludePinned"), False),
        files_only=as_bool(body.get("filesOnly"), False),
        users=tuple(str(u) for u in users),  # usernames, not ids
        limit=int(body.get("limit") or 0),
        ignore_discussion=as_bool(body.get("ignoreDiscussion"), True),
        ignore_threads=as_bool(body.get("ignoreThreads"), True),
    )
    count = ops.clean_history(state, room, prune)
    return success({"_id": room.id, "count": count})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/rooms.info", rooms_info)
    r.add_post("/api/v1/rooms.cleanHistory", clean_history)
    for kind, (t, _, _) in _KINDS.items():
        r.add_post(f"/api/v1/{kind}.create", make_create(kind))
        r.add_get(f"/api/v1/{kind}.info", make_info(kind))
        r.add_post(f"/api/v1/{kind}.invite", make_invite(kind))
        r.add_post(f"/api/v1/{kind}.kick", make_kick(kind))
        r.add_get(f"/api/v1/{kind}.members", make_members(t))
        r.add_get(f"/api/v1/{kind}.history", make_history(t))
        r.add_get(f"/api/v1/{kind}.roles", make_roles(kind))
        r.add_post(f"/api/v1/{kind}.addOwner", make_add_role(kind, "owner"))
        r.add_post(f"/api/v1/{kind}.addModerator", make_add_role(kind, "moderator"))
    for alias in ("im", "dm"):  # one route registered under both names
        r.add_post(f"/api/v1/{alias}.create", im_create)
        r.add_get(f"/api/v1/{alias}.members", make_members("d"))
        r.add_get(f"/api/v1/{alias}.history", make_history("d"))
