"""Whether a Rocket.Chat document or stored inbox payload is usable.

Rocket.Chat documents reach the bridge from the realtime stream, catch-up and outgoing
webhooks, and their fields were written by users and integrations. The parsers in
:mod:`bridge.rctypes.models` are lenient so that a newer server does not break the
bridge; this module is the strict gate in front of the relay: ids the bridge stores and
looks up, the types it reads, and text both databases can hold. A payload that fails is
recorded as skipped with the reason, never retried until it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.rctypes.events import ERASURE_TYPES
from bridge.rctypes.models import parse_date
from bridge.textcheck import text_problem

# The bridge stores Rocket.Chat ids in 64-character columns (Meteor ids are 17).
MAX_RC_ID = 64
MAX_NAME = 255


def _id_problem(value: object, what: str, limit: int = MAX_RC_ID) -> str | None:
    if not isinstance(value, str) or not value or len(value) > limit:
        return f"{what} is missing, not a string or longer than {limit} characters"
    return None


def _date_problem(value: object, what: str) -> str | None:
    try:
        parse_date(value)
    except (ValueError, TypeError, OverflowError, OSError):
        return f"{what} is not a date"
    return None


def message_problem(doc: object) -> str | None:
    """Why a message document (``IMessage``) cannot be relayed, or None."""
    if not isinstance(doc, Mapping):
        return "message is not an object"
    problem = (
        _id_problem(doc.get("_id"), "message _id")
        or _id_problem(doc.get("rid"), "message rid")
        or text_problem(doc)
        or _user_problem(doc.get("u"), "message u")
    )
    if problem is not None:
        return problem
    for key in ("ts", "_updatedAt", "editedAt"):
        if (problem := _date_problem(doc.get(key), key)) is not None:
            return problem
    for key in ("msg", "t", "alias"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            return f"message {key} is not a string"
    if doc.get("tmid") is not None and (problem := _id_problem(doc["tmid"], "tmid")):
        return problem
    if doc.get("editedBy") is not None and (problem := _user_problem(doc["editedBy"], "editedBy")):
        return problem
    return _parts_problem(doc)


def _user_problem(user: object, what: str) -> str | None:
    if not isinstance(user, Mapping):
        return f"{what} is not an object"
    problem = _id_problem(user.get("_id"), f"{what}._id") or _id_problem(
        user.get("username"), f"{what}.username", MAX_NAME
    )
    if problem is not None:
        return problem
    name = user.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        return f"{what}.name is not a string of at most {MAX_NAME} characters"
    return None


def _parts_problem(doc: Mapping[str, Any]) -> str | None:
    for key in ("attachments", "files"):
        parts = doc.get(key)
        if parts is not None and (
            not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts)
        ):
            return f"message {key} is not a list of objects"
    for attachment in doc.get("attachments") or ():
        for key in ("type", "title", "title_link", "text", "image_url", "image_type"):
            if attachment.get(key) is not None and not isinstance(attachment[key], str):
                return f"attachment {key} is not a string"
    if doc.get("file") is not None and not isinstance(doc["file"], Mapping):
        return "message file is not an object"
    reactions = doc.get("reactions")
    if reactions is None:
        return None
    if not isinstance(reactions, Mapping):
        return "message reactions is not an object"
    for value in reactions.values():
        usernames = value.get("usernames") if isinstance(value, Mapping) else None
        if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
            return "a reaction has no list of usernames"
    return None


def inbox_payload_problem(payload: Mapping[str, Any]) -> str | None:
    """Why a stored Rocket.Chat inbox payload (see ``inbox_events``) cannot be used, or None."""
    if payload.get("type") == "person":
        return text_problem(payload) or _person_problem(payload)
    problem = text_problem(payload) or _id_problem(payload.get("room_id"), "room_id")
    if problem is not None:
        return problem
    kind = payload.get("type")
    if kind == "message":
        return message_problem(payload.get("message"))
    if kind == "deleted":
        deleted_ms = payload.get("deleted_ms")
        if deleted_ms is not None and _date_problem(deleted_ms, "deleted_ms"):
            return "deleted_ms is not a time"
        return _id_problem(payload.get("message_id"), "message_id")
    if kind == "pruned":
        return _pruned_problem(payload)
    return f"unknown Rocket.Chat payload type {kind!r}"[:200]


def _person_problem(payload: Mapping[str, Any]) -> str | None:
    change = payload.get("change")
    if change == "deleted":
        if payload.get("erasure_type") not in ERASURE_TYPES:
            return "erasure_type is not one of Delete, Unlink, Keep"
        alias = payload.get("alias")
        if alias is not None and (not isinstance(alias, str) or len(alias) > MAX_NAME):
            return "alias is not a short string"
        return _id_problem(payload.get("user_id"), "user_id")
    if change == "renamed":
        name = payload.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
            return "name is not a short string"
        return _id_problem(payload.get("user_id"), "user_id") or _id_problem(
            payload.get("username"), "username", MAX_NAME
        )
    if change == "avatar":
        etag = payload.get("etag")
        if etag is not None and not isinstance(etag, str):
            return "etag is not a string"
        return _id_problem(payload.get("username"), "username", MAX_NAME)
    return f"unknown person change {change!r}"[:200]


def _pruned_problem(payload: Mapping[str, Any]) -> str | None:
    for key in ("oldest_ms", "latest_ms"):
        value = payload.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or _date_problem(value, key)
        ):
            return f"{key} is not a time"
    users, ids = payload.get("users"), payload.get("ids")
    if users is not None and (
        not isinstance(users, list) or not all(isinstance(u, str) for u in users)
    ):
        return "users is not a list of usernames"
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        return "ids is not a list of message ids"
    ignore_threads = payload.get("ignore_threads")
    if ignore_threads is not None and not isinstance(ignore_threads, bool):
        return "ignore_threads is not a boolean"
    return None
