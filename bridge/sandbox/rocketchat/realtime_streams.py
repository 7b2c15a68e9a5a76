"""Which stream events a logged-in (or anonymous) session receives for a state change.

The shapes are those of Rocket.Chat's listeners (apps/meteor/server/modules/listeners/
listeners.module.ts) and the read rules those of its streamers (apps/meteor/server/modules/
notifications/notifications.module.ts):

* ``stream-room-messages`` ``<rid>`` / ``__my_messages__``: every inserted or updated message;
* ``stream-notify-room`` ``<rid>/<event>`` (members only): ``deleteMessage``,
  ``deleteMessageBulk``, ``user-activity``, ``typing``;
* ``stream-notify-user`` ``<uid>/<event>`` (that user only): ``rooms-changed``,
  ``subscriptions-changed`` (``[clientAction, document]``), ``message`` (ephemeral messages
  from rocket.cat), ``notification`` (desktop notifications);
* ``stream-notify-logged`` (any logged-in user): ``Users:NameChanged``, ``Users:Deleted``,
  ``updateAvatar``, ``roles-change``, ``user-status``;
* ``stream-notify-all`` (everyone): ``public-settings-changed``.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.sandbox.rocketchat.access import can_access
from bridge.sandbox.rocketchat.state import Doc, SimRoom, SimState, SimUser, ddp_dates, render_ddp

ROOM_MESSAGES = "stream-room-messages"
NOTIFY_ROOM = "stream-notify-room"
NOTIFY_USER = "stream-notify-user"
NOTIFY_LOGGED = "stream-notify-logged"
NOTIFY_ALL = "stream-notify-all"
MY_MESSAGES = "__my_messages__"
STREAMS = (ROOM_MESSAGES, NOTIFY_ROOM, NOTIFY_USER, NOTIFY_LOGGED, NOTIFY_ALL)

Event = tuple[str, str, list[Any]]  # (stream, eventName, args)

_ROOM_EVENTS = ("deleteMessage", "deleteMessageBulk", "user-activity", "typing")
# Global events: the state change kind -> (stream, eventName).
_GLOBAL = {
    "user.nameChanged": (NOTIFY_LOGGED, "Users:NameChanged"),
    "user.deleted": (NOTIFY_LOGGED, "Users:Deleted"),
    "user.avatarUpdate": (NOTIFY_LOGGED, "updateAvatar"),
    "user.roleUpdate": (NOTIFY_LOGGED, "roles-change"),
    "presence": (NOTIFY_LOGGED, "user-status"),
    "setting": (NOTIFY_ALL, "public-settings-changed"),
}


def may_read(state: SimState, user: SimUser | None, name: str, param: str) -> bool:
    """The streamers' ``allowRead`` rules."""
    if name == NOTIFY_ALL:
        return True
    if user is None:
        return False
    if name == ROOM_MESSAGES:
        room = state.rooms.get(param)
        return param == MY_MESSAGES or (room is not None and can_access(user, room))
    if name == NOTIFY_LOGGED:
        return True
    target, _, event = param.partition("/")
    if name == NOTIFY_USER:
        return target == user.id and bool(event)
    # stream-notify-room needs a subscription to the room.
    room = state.rooms.get(target)
    return room is not None and user.id in room.members and bool(event)


def events_for(state: SimState, user: SimUser | None, kind: str, payload: Doc) -> list[Event]:
    if kind in _GLOBAL:
        stream, name = _GLOBAL[kind]
        if user is None and stream != NOTIFY_ALL:
            return []
        args = payload["args"] if "args" in payload else [payload]
        return [(stream, name, args)]
    if user is None:
        return []
    if kind in ("subscription", "ephemeral", "notification"):
        return _user_events(user, kind, payload)
    room = state.rooms.get(str(payload.get("rid")))
    if room is None or not can_access(user, room):
        return []
    if kind == "message":
        return _message_events(user, room, payload)
    if kind == "messageInserted":
        return _inserted_events(state, user, room, payload)
    if kind in _ROOM_EVENTS:
        return [(NOTIFY_ROOM, f"{room.id}/{kind}", _room_event_args(kind, payload))]
    if kind == "room" and user.id in room.members:
        return [(NOTIFY_USER, f"{user.id}/rooms-changed", ["updated", _room_doc(state, room)])]
    return []


def _user_events(user: SimUser, kind: str, payload: Doc) -> list[Event]:
    if payload.get("uid") != user.id:
        return []
    if kind == "subscription":
        action = payload["action"]
        return [
            (NOTIFY_USER, f"{user.id}/subscriptions-changed", [action, payload["subscription"]]),
            (NOTIFY_USER, f"{user.id}/rooms-changed", [action, payload["room"]]),
        ]
    if kind == "ephemeral":
        return [(NOTIFY_USER, f"{user.id}/message", [payload["message"]])]
    return [(NOTIFY_USER, f"{user.id}/notification", [payload["notification"]])]


def _message_events(user: SimUser, room: SimRoom, doc: Doc) -> list[Event]:
    message = render_ddp(doc)
    extras = {"roomParticipant": user.id in room.members, "roomType": room.t, "roomName": room.name}
    return [
        (ROOM_MESSAGES, room.id, [message]),
        (ROOM_MESSAGES, MY_MESSAGES, [message, extras]),
    ]


def _inserted_events(state: SimState, user: SimUser, room: SimRoom, doc: Doc) -> list[Event]:
    """A new message changes the room (``rooms-changed``) and notifies the other person of
    a DM, or someone mentioned by ``@username`` (sendNotificationsOnMessage.ts)."""
    if user.id not in room.members:
        return []
    events: list[Event] = [
        (NOTIFY_USER, f"{user.id}/rooms-changed", ["updated", _room_doc(state, room)])
    ]
    author = doc["u"]
    mentioned = re.search(rf"(?<![\w.-])@{re.escape(user.username)}(?![\w.-])", doc["msg"])
    if user.id != author["_id"] and not doc.get("t") and (room.t == "d" or mentioned):
        events.append((NOTIFY_USER, f"{user.id}/notification", [_notification(room, doc)]))
    return events


def _notification(room: SimRoom, doc: Doc) -> Doc:
    author = doc["u"]
    title = author["username"] if room.t == "d" else f"#{room.name}"
    payload: Doc = {
        "_id": doc["_id"],
        "rid": room.id,
        "sender": dict(author),
        "type": room.t,
        "message": {"msg": doc["msg"]},
    }
    if room.t != "d":
        payload["name"] = room.name
    if doc.get("tmid"):
        payload["tmid"] = doc["tmid"]
    return {"title": title, "text": doc["msg"], "payload": payload}


def _room_doc(state: SimState, room: SimRoom) -> Doc:
    return ddp_dates(room.document(state))


def _room_event_args(kind: str, payload: Doc) -> list[Any]:
    if kind == "deleteMessage":
        return [{"_id": payload["_id"]}]
    if kind in ("user-activity", "typing"):
        return list(payload["args"])
    arg = dict(payload)
    arg["ts"] = {op: {"$date": ms} for op, ms in payload["ts"].items()}
    return [arg]
