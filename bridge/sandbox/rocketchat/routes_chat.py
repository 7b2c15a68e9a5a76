"""chat.* routes (docs/rocketchat-notes.md)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import (
    authed,
    can_access,
    has_permission,
    json_body,
    required_str,
)
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import (
    failure,
    invalid_params,
    message_not_found,
    meteor_error,
    room_mismatch,
    success,
)
from bridge.sandbox.rocketchat.state import (
    Doc,
    SimRoom,
    SimState,
    SimUser,
    parse_iso_ms,
    render_rest,
)


def check_can_send(state: SimState, user: SimUser, room: SimRoom, fields: dict[str, Any]) -> None:
    if user.id not in room.members:
        raise meteor_error("error-not-allowed", "")
    if room.ro and not has_permission(state, user, "post-readonly", room):
        raise meteor_error(
            "error-not-allowed", "You can't send messages because the room is readonly."
        )
    if (fields.get("alias") or fields.get("avatar")) and not has_permission(
        state, user, "message-impersonate"
    ):
        raise failure("Not enough permission")  # plain Error, no errorType


def _resolve_channel(state: SimState, user: SimUser, body: dict[str, Any]) -> SimRoom:
    target = body.get("roomId") or body.get("channel")
    room: SimRoom | None = None
    if isinstance(target, str) and target.startswith("#"):
        room = state.room_by_name(target[1:])
    elif isinstance(target, str) and target.startswith("@"):
        other = state.user_by_name(target[1:])
        if other is not None:
            ids = sorted({user.id, other.id})
            room = next(
                (r for r in state.rooms.values() if r.t == "d" and sorted(r.members) == ids), None
            )
            room = room or state.add_room("d", None, user, ids)
    elif isinstance(target, str):
        room = state.rooms.get(target)
    if room is None:
        raise meteor_error("invalid-channel", "")
    return room


async def post_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    room = _resolve_channel(state, user, body)
    fields: dict[str, Any] = {"msg": body.get("text") or body.get("msg") or ""}
    for key in ("alias", "avatar", "emoji", "attachments", "tmid"):
        if body.get(key):
            fields[key] = body[key]
    fields["groupable"] = False
    check_can_send(state, user, room, fields)
    doc = ops.create_message(state, user, room, fields)
    channel = room.name or room.id
    return success({"ts": int(time.time() * 1000), "channel": channel, "message": render_rest(doc)})


async def send_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    message = body.get("message")
    if not isinstance(message, dict):
        raise failure(
            'The "message" parameter must be provided. [error-invalid-params]',
            "error-invalid-params",
        )
    if not message.get("rid"):
        raise failure("The 'rid' property on the message object is missing.")
    if message.get("t"):
        raise failure("Cannot send system messages using 'chat.sendMessage'")
    if message.get("tshow") and not message.get("tmid"):
        raise meteor_error("invalid-params", "tshow provided but missing tmid")
    room = state.rooms.get(str(message["rid"]))
    if room is None:
        raise failure("error-invalid-room")
    check_can_send(state, user, room, message)
    msg_id = message.get("_id")
    doc = ops.create_message(state, user, room, message, str(msg_id) if msg_id else None)
    return success({"message": render_rest(doc)})


def _message_in_room(state: SimState, body: dict[str, Any]) -> tuple[Doc, SimRoom]:
    room_id = required_str(body, "roomId")
    msg_id = required_str(body, "msgId")
    doc = state.messages.get(msg_id)
    if doc is None or not ops.visible(doc):
        raise message_not_found(msg_id)
    if doc["rid"] != room_id:
        raise room_mismatch()
    return doc, state.rooms[doc["rid"]]


async def update(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    for key in ("roomId", "msgId", "text"):
        required_str(body, key)
    if body["text"] == "":
        raise invalid_params("/text must NOT have fewer than 1 characters")
    doc, room = _message_in_room(state, body)
    doc = ops.update_message(state, user, room, doc, body["text"])
    return success({"message": render_rest(doc)})


async def delete(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    doc, room = _message_in_room(state, body)
    actor = user
    if body.get("asUser") is True and doc["u"]["_id"] != user.id:
        if not has_permission(state, user, "force-delete-message", room):
            raise failure(
                'Unauthorized. You must have the permission "force-delete-message" to delete '
                "other's message as them."
            )
        author = state.users.get(doc["u"]["_id"])
        if author is None:
            raise failure("User not found")
        actor = author
    projection = {"_id": doc["_id"], "rid": doc["rid"], "u": dict(doc["u"])}
    ops.delete_message(state, actor, room, doc)
    return success(
        {"_id": projection["_id"], "ts": str(int(time.time() * 1000)), "message": projection}
    )


async def get_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    msg_id = request.query.get("msgId")
    if not msg_id:
        raise failure('The "msgId" query parameter must be provided.')
    doc = state.messages.get(msg_id)
    if doc is None or not ops.visible(doc) or not can_access(user, state.rooms[doc["rid"]]):
        raise failure(f'No message found with the id of "{msg_id}".')
    return success({"message": render_rest(doc)})


async def sync_messages(request: web.Request) -> web.Response:
    """``lastUpdate`` mode: updated documents plus trash entries after that time."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    room_id = request.query.get("roomId")
    last = request.query.get("lastUpdate")
    if not room_id:
        raise failure(
            'The required "roomId" query param is missing. [error-roomId-param-not-provided]',
            "error-roomId-param-not-provided",
        )
    if not last:
        raise failure(
            'The "lastUpdate" query parameter must be provided. '
            "[error-lastUpdate-param-not-provided]",
            "error-lastUpdate-param-not-provided",
        )
    room = state.rooms.get(room_id)
    if room is None or not can_access(user, room):
        raise meteor_error("error-not-allowed", "Not allowed")
    since = parse_iso_ms(last)
    updated = sorted(
        (
            d
            for d in state.messages.values()
            if d["rid"] == room_id and ops.visible(d) and int(d["_updatedAt"]) > since
        ),
        key=lambda d: -int(d["ts"]),
    )
    deleted = [
        {"_id": t["_id"], "_deletedAt": t["_deletedAt"]}
        for t in state.trash.values()
        if t["rid"] == room_id and int(t["_deletedAt"]) > since
    ]
    result = {
        "updated": [render_rest(d) for d in updated],
        "deleted": [render_rest(d) for d in deleted],
    }
    return success({"result": result})


async def react(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    msg_id = body.get("messageId")
    if not msg_id:
        raise meteor_error(
            "error-messageid-param-not-provided", 'The required "messageId" param is missing.'
        )
    doc = state.messages.get(str(msg_id))
    if doc is None or not ops.visible(doc):
        raise meteor_error(
            "error-message-not-found",
            'The provided "messageId" does not match any existing message.',
        )
    emoji = body.get("emoji") or body.get("reaction")
    if not isinstance(emoji, str) or not emoji:
        raise meteor_error(
            "error-emoji-param-not-provided", 'The required "emoji" param is missing.'
        )
    if not can_access(user, state.rooms[doc["rid"]]):
        raise meteor_error("error-not-allowed", "Not allowed")
    should = body.get("shouldReact")
    ops.react(state, user, doc, emoji, should if isinstance(should, bool) else None)
    return success()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/chat.postMessage", post_message)
    r.add_post("/api/v1/chat.sendMessage", send_message)
    r.add_post("/api/v1/chat.update", update)
    r.add_post("/api/v1/chat.delete", delete)
    r.add_get("/api/v1/chat.getMessage", get_message)
    r.add_get("/api/v1/chat.syncMessages", sync_messages)
    r.add_post("/api/v1/chat.react", react)
