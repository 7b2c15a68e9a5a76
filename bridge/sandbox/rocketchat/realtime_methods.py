"""DDP methods of the realtime API (Rocket.Chat apps/meteor/app/lib/server/methods/ and
apps/meteor/server/methods/): login, sendMessage, updateMessage, deleteMessage, setReaction,
loadHistory, rooms/get, subscriptions/get.

Each handler returns the method's result (``None`` for methods that return nothing: the
``result`` frame then has no ``result`` key) or raises :class:`MethodError`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import can_access
from bridge.sandbox.rocketchat.responses import APIError
from bridge.sandbox.rocketchat.routes_chat import check_can_send
from bridge.sandbox.rocketchat.state import (
    Doc,
    SimState,
    SimUser,
    ddp_dates,
    random_id,
    render_ddp,
)

if TYPE_CHECKING:
    from bridge.sandbox.rocketchat.realtime import Session

TOKEN_LIFETIME_MS = 90 * 86_400_000  # Accounts_LoginExpiration default: 90 days


class MethodError(Exception):
    """A ``Meteor.Error`` thrown by a method: sent as the result frame's ``error``."""

    def __init__(self, error: str | int, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason

    def frame(self) -> Doc:
        message = f"{self.reason} [{self.error}]" if self.reason else f"[{self.error}]"
        return {
            "isClientSafe": True,
            "error": self.error,
            "reason": self.reason,
            "message": message,
            "errorType": "Meteor.Error",
        }


def _from_api(exc: APIError) -> MethodError:
    """The REST helpers raise APIError; a method throws the same Meteor.Error."""
    code = exc.body.get("errorType") or "error"
    text = str(exc.body.get("error") or "")
    reason = text.removesuffix(f" [{code}]") if text.endswith(f"[{code}]") else text
    return MethodError(str(code), reason)


def _user(session: Session) -> SimUser:
    if session.user is None:
        raise MethodError("error-invalid-user", "Invalid user")
    return session.user


def _date_ms(value: Any) -> int | None:
    """EJSON ``{"$date": ms}`` (or null) as epoch ms."""
    if isinstance(value, dict) and isinstance(value.get("$date"), int | float):
        return int(value["$date"])
    return None


# -- login ----------------------------------------------------------------------------


def login(state: SimState, session: Session, params: list[Any]) -> Doc:
    """``resume`` with a login token or PAT, or a password as its SHA-256 digest (what
    Meteor's accounts-password client sends: ``{"digest", "algorithm": "sha-256"}``) or in
    plain text."""
    arg = params[0] if params and isinstance(params[0], dict) else {}
    if isinstance(arg.get("resume"), str):
        token = str(arg["resume"])
        user = next(
            (
                u
                for u in state.users.values()
                if any(secrets.compare_digest(t, token) for t in u.tokens)
            ),
            None,
        )
        if user is None or not user.active:
            raise MethodError(403, "You've been logged out by the server. Please log in again.")
        return _logged_in(state, session, user, token, "resume")
    user = _find_user(state, arg.get("user"))
    if user is None:
        raise MethodError(403, "User not found")
    if not _password_matches(user, arg.get("password")):
        raise MethodError(403, "Incorrect password")
    if not user.active:
        raise MethodError("error-user-is-not-activated", "User is not activated")
    token = secrets.token_urlsafe(32)
    user.tokens.append(token)
    return _logged_in(state, session, user, token, "password")


def _find_user(state: SimState, selector: Any) -> SimUser | None:
    if isinstance(selector, str):
        selector = {"email": selector} if "@" in selector else {"username": selector}
    if not isinstance(selector, dict):
        return None
    if isinstance(selector.get("id"), str):
        return state.users.get(selector["id"])
    if isinstance(selector.get("username"), str):
        return state.user_by_name(selector["username"])
    email = selector.get("email")
    if isinstance(email, str):
        return next((u for u in state.users.values() if u.email.lower() == email.lower()), None)
    return None


def _password_matches(user: SimUser, password: Any) -> bool:
    if isinstance(password, str):
        return secrets.compare_digest(user.password, password)
    if isinstance(password, dict) and password.get("algorithm") == "sha-256":
        digest = str(password.get("digest", "")).lower()
        expected = hashlib.sha256(user.password.encode()).hexdigest()
        return secrets.compare_digest(expected, digest)
    return False


def _logged_in(state: SimState, session: Session, user: SimUser, token: str, kind: str) -> Doc:
    session.user = user
    expires = state.now_ms() + TOKEN_LIFETIME_MS
    return {"id": user.id, "token": token, "tokenExpires": {"$date": expires}, "type": kind}


# -- messages -------------------------------------------------------------------------


# The keys sendMessage's check() accepts; any other key fails the match.
_SEND_KEYS = frozenset(
    {
        "_id", "rid", "msg", "tmid", "tshow", "ts", "t", "bot", "content", "e2e",
        "e2eMentions", "customFields", "federation", "groupable", "sentByEmail",
    }
)  # fmt: skip


def send_message(state: SimState, session: Session, params: list[Any]) -> Doc | None:
    """sendMessage.ts: the stored message comes back as the result.

    The method passes on only ``error-not-allowed`` (and ``restricted-workspace``); every
    other failure of executeSendMessage is swallowed and the result is empty. A failure
    once the room is known (canSendMessage, the insert) is also told to the sender as an
    ephemeral message from rocket.cat on ``<uid>/message`` (``notify.ephemeralMessage``).
    """
    message = params[0] if params and isinstance(params[0], dict) else None
    if message is None or not set(message) <= _SEND_KEYS:
        raise MethodError(400, "Match failed")
    user = _user(session)
    if message.get("t"):
        raise MethodError(500, "Internal server error")  # a plain Error, sanitised by Meteor
    try:
        return _execute_send(state, user, message)
    except MethodError as exc:
        if exc.error == "error-not-allowed":
            raise
        return None


def _execute_send(state: SimState, user: SimUser, message: Doc) -> Doc:
    if message.get("tshow") and not message.get("tmid"):
        raise MethodError("invalid-params", "tshow provided but missing tmid")
    if message.get("tmid") and not state.settings["Threads_enabled"]:
        raise MethodError("error-not-allowed", "not-allowed")
    text = message.get("msg")
    if isinstance(text, str) and len(text) > int(state.settings["Message_MaxAllowedSize"]):
        raise MethodError(
            "error-message-size-exceeded", "Message size exceeds Message_MaxAllowedSize"
        )
    rid = message.get("rid")
    parent = state.messages.get(str(message.get("tmid")))
    if parent is not None:
        rid = parent["rid"]  # a reply belongs to its thread's room
    room = state.rooms.get(rid) if isinstance(rid, str) else None
    if room is None:
        raise MethodError("error-invalid-room", "Invalid room")
    fields = {k: v for k, v in message.items() if k != "ts"}
    try:
        check_can_send(state, user, room, fields)
        msg_id = message.get("_id")
        doc = ops.create_message(state, user, room, fields, str(msg_id) if msg_id else None)
    except APIError as exc:
        error = _from_api(exc)
        _tell(state, user, room.id, error.reason or "Not allowed")
        raise error from exc
    return render_ddp(doc)


def _tell(state: SimState, user: SimUser, rid: str, text: str) -> None:
    """``notify.ephemeralMessage``: a private message from rocket.cat to one user
    (listeners.module.ts), never stored."""
    now = {"$date": state.now_ms()}
    message = {
        "groupable": False,
        "u": {"_id": "rocket.cat", "username": "rocket.cat"},
        "private": True,
        "_id": random_id(),
        "rid": rid,
        "ts": now,
        "_updatedAt": now,
        "msg": text,
    }
    state.emit("ephemeral", {"uid": user.id, "message": message})


def _message(state: SimState, params: list[Any]) -> Doc | None:
    arg = params[0] if params and isinstance(params[0], dict) else None
    if arg is None or not isinstance(arg.get("_id"), str):
        raise MethodError(400, "Match failed")
    doc = state.messages.get(arg["_id"])
    return doc if doc is not None and ops.visible(doc) else None


def update_message(state: SimState, session: Session, params: list[Any]) -> None:
    """updateMessage.ts: an unknown message is silently ignored; the text is ``msg``."""
    user = _user(session)
    doc = _message(state, params)
    if doc is None:
        return
    for key, value in params[0].items():
        # Only these may change; any other key must repeat the stored value.
        if key not in _EDITABLE and value != doc.get(key):
            raise MethodError("error-invalid-update-key", f"Cannot update the message {key}")
    text = params[0].get("msg")
    if not isinstance(text, str):
        return
    try:
        ops.update_message(state, user, state.rooms[doc["rid"]], doc, text)
    except APIError as exc:
        raise _from_api(exc) from exc


_EDITABLE = frozenset({"tshow", "alias", "attachments", "avatar", "emoji", "msg"})


def delete_message(state: SimState, session: Session, params: list[Any]) -> None:
    user = _user(session)
    doc = _message(state, params)
    if doc is None:
        raise MethodError("error-action-not-allowed", "Not allowed")
    try:
        ops.delete_message(state, user, state.rooms[doc["rid"]], doc)
    except APIError as exc:
        raise _from_api(exc) from exc


def set_reaction(state: SimState, session: Session, params: list[Any]) -> None:
    """setReaction(reaction, messageId, shouldReact?): the message is streamed again whole."""
    user = _user(session)
    if len(params) < 2 or not isinstance(params[0], str) or not isinstance(params[1], str):
        raise MethodError(400, "Match failed")
    doc = state.messages.get(params[1])
    if doc is None or not ops.visible(doc):
        raise MethodError("error-not-allowed", "Not allowed")
    if not can_access(user, state.rooms[doc["rid"]]):
        raise MethodError("not-authorized", "Not Authorized")
    should = params[2] if len(params) > 2 and isinstance(params[2], bool) else None
    ops.react(state, user, doc, params[0], should)


def load_history(state: SimState, session: Session, params: list[Any]) -> Doc | bool:
    """loadHistory(rid, end, limit = 20, ls): visible messages before ``end``, newest
    first; ``false`` for a room the caller may not read (loadHistory.ts)."""
    user = _user(session)
    rid = params[0] if params else None
    room = state.rooms.get(rid) if isinstance(rid, str) else None
    if room is None or not can_access(user, room):
        return False
    end = _date_ms(params[1]) if len(params) > 1 else None
    limit = params[2] if len(params) > 2 and isinstance(params[2], int) else 20
    docs = sorted(
        (
            d
            for d in state.messages.values()
            if d["rid"] == room.id and ops.visible(d) and (end is None or int(d["ts"]) < end)
        ),
        key=lambda d: -int(d["ts"]),
    )[:limit]
    return {"messages": [render_ddp(d) for d in docs], "unreadNotLoaded": 0}


def _since(params: list[Any]) -> int | None:
    return _date_ms(params[0]) if params else None


def rooms_get(state: SimState, session: Session, params: list[Any]) -> Any:
    """rooms/get(updatedAt?): the caller's rooms, or ``{update, remove}`` after a date;
    ``[]`` without a login (server/publications/room)."""
    user = session.user
    if user is None:
        return []
    since = _since(params)
    rooms = [r for r in state.rooms.values() if user.id in r.members]
    docs = [ddp_dates(r.document(state)) for r in rooms]
    if since is None:
        return docs
    keep = [d for d, r in zip(docs, rooms, strict=True) if r.updated_at > since]
    return {"update": keep, "remove": []}


def subscriptions_get(state: SimState, session: Session, params: list[Any]) -> Any:
    user = session.user
    if user is None:
        return []  # server/publications/subscription: no error without a login
    since = _since(params)
    rooms = [r for r in state.rooms.values() if user.id in r.members]
    docs = [ddp_dates(r.subscription(state, user)) for r in rooms]
    if since is None:
        return docs
    keep = [d for d, r in zip(docs, rooms, strict=True) if r.updated_at > since]
    return {"update": keep, "remove": []}


Method = Callable[[SimState, "Session", list[Any]], Any]

METHODS: dict[str, Method] = {
    "login": login,
    "sendMessage": send_message,
    "updateMessage": update_message,
    "deleteMessage": delete_message,
    "setReaction": set_reaction,
    "loadHistory": load_history,
    "rooms/get": rooms_get,
    "subscriptions/get": subscriptions_get,
}
