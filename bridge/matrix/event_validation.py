"""Whether a stored Matrix event is usable, decided once before any handler reads it.

The homeserver delivers the events, but their fields were written by whoever sent them,
on any server in the room. Handlers take mautrix's typed events and read fields with the
types the spec gives them; this module decides up front which events have those types
(:func:`event_problem`), then reads each into its mautrix type once for all the handlers
(:func:`read_event`). A malformed event is recorded as *skipped* with a reason instead of
raising deep inside a handler and being retried until it *fails*. An irrelevant but
well-formed event (an unknown type, a room that is no portal) passes: the handlers ignore
it and it ends *done*.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard
from urllib.parse import unquote

from mautrix.types import Event, Membership, SerializerError

from bridge.bridging.formatting import MATRIX_TO
from bridge.pipeline.contracts import SkipEvent
from bridge.storage.inbox import InboxPayload
from bridge.textcheck import text_problem

# Spec, "Appendices: Identifier Grammar": user, room and event ids are at most 255 bytes.
MAX_ID_BYTES = 255
# The spec's state events the bridge may see; each must carry a ``state_key``.
STATE_TYPES = frozenset(
    {
        "m.room.avatar",
        "m.room.canonical_alias",
        "m.room.create",
        "m.room.encryption",
        "m.room.guest_access",
        "m.room.history_visibility",
        "m.room.join_rules",
        "m.room.member",
        "m.room.name",
        "m.room.pinned_events",
        "m.room.power_levels",
        "m.room.server_acl",
        "m.room.third_party_invite",
        "m.room.tombstone",
        "m.room.topic",
        "m.space.child",
        "m.space.parent",
    }
)
_USER_ID = re.compile(r"@[^:]+:.+", re.DOTALL)
_PILL = re.compile(re.escape(MATRIX_TO) + r"(@[^\"'?<>\s]+)")


def read_event(payload: InboxPayload) -> Event:
    """A stored event as the handlers see it, a mautrix ``Event`` (``MessageEvent``,
    ``StateEvent``, ``RedactionEvent``...); ``SkipEvent`` says why one is unusable."""
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as e:
        raise SkipEvent(f"payload is not JSON: {e}"[:200]) from e
    if not isinstance(event, dict):
        raise SkipEvent("event is not an object")
    problem = event_problem(event)
    if problem is not None:
        raise SkipEvent(problem)
    if event["type"] == "m.room.redaction" and "redacts" not in event:
        # Room v11 moved ``redacts`` into the content; mautrix reads it top-level.
        event["redacts"] = event["content"]["redacts"]
    try:
        read: Event = Event.deserialize(event)
        return read
    except (SerializerError, ValueError, TypeError, KeyError, AttributeError) as e:
        # What the checks above let through and mautrix still cannot read (a state
        # event's content of the wrong shape, say): skipped, never a handler's crash.
        raise SkipEvent(f"{event['type']} does not read as its mautrix type"[:200]) from e


def event_problem(event: Mapping[str, Any]) -> str | None:
    """Why ``event`` cannot be used, or None when the handlers may read it as the spec says."""
    problem = _envelope_problem(event) or text_problem(event)
    if problem is not None:
        return problem
    check = _CONTENT_CHECKS.get(event["type"])
    return None if check is None else check(event["content"], event)


def _envelope_problem(event: Mapping[str, Any]) -> str | None:
    for key, sigil in (("type", ""), ("event_id", "$"), ("room_id", "!"), ("sender", "@")):
        value = event.get(key)
        if not isinstance(value, str) or not value.startswith(sigil) or not value:
            return f"'{key}' is missing or not a {sigil or 'non-empty '}string"
        if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
            return f"'{key}' is longer than {MAX_ID_BYTES} bytes"
    if not _USER_ID.fullmatch(event["sender"]):
        return "'sender' is not a user id"
    if not isinstance(event.get("content"), dict):
        return "'content' is missing or not an object"
    # Required by the spec (ClientEvent), and by mautrix's event types.
    ts = event.get("origin_server_ts")
    if not _is_int(ts) or not 0 <= ts < 2**53:
        return "'origin_server_ts' is missing or not a timestamp"
    if "unsigned" in event and not isinstance(event["unsigned"], dict):
        return "'unsigned' is not an object"
    if "redacts" in event and not isinstance(event["redacts"], str):
        return "'redacts' is not a string"
    state_key = event.get("state_key")
    if state_key is None and event["type"] in STATE_TYPES:
        return f"state event {event['type']} without a state_key"
    if state_key is not None and not isinstance(state_key, str):
        return "'state_key' is not a string"
    return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed(content: Mapping[str, Any], types: Mapping[str, type | tuple[type, ...]]) -> str | None:
    """Optional keys: each one present must have its type (None allowed only if listed)."""
    for key, expected in types.items():
        if key in content and not isinstance(content[key], expected):
            return f"content '{key}' has the wrong type"
        if expected is int and key in content and isinstance(content[key], bool):
            return f"content '{key}' has the wrong type"
    return None


def _relation_problem(content: Mapping[str, Any]) -> str | None:
    relates = content.get("m.relates_to")
    if relates is None:
        return None
    if not isinstance(relates, dict):
        return "'m.relates_to' is not an object"
    problem = _typed(relates, {"rel_type": str, "event_id": str, "key": str})
    if problem is not None:
        return problem
    reply = relates.get("m.in_reply_to")
    if reply is not None and not (
        isinstance(reply, dict) and isinstance(reply.get("event_id"), str)
    ):
        return "'m.in_reply_to' has no event_id"
    return None


def _message_problem(content: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """``event`` is empty for an edit's new content."""
    if not isinstance(content.get("msgtype"), str) or not isinstance(content.get("body"), str):
        return "m.room.message without a string msgtype and body"
    problem = (
        _typed(
            content,
            {"format": str, "formatted_body": str, "url": str, "filename": str, "info": dict},
        )
        or _typed(content.get("info") or {}, {"mimetype": str, "size": int})
        or _relation_problem(content)
        or _pills_problem(content.get("formatted_body"))
    )
    if problem is not None:
        return problem
    if "m.new_content" in content:
        new = content["m.new_content"]
        if not isinstance(new, dict):
            return "'m.new_content' is not an object"
        return _message_problem(new, {})
    relates = content.get("m.relates_to")
    if event and isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
        # mautrix reads an edit as its new content: one without any is no edit.
        return "an m.replace without 'm.new_content'"
    return None


def _pills_problem(formatted: object) -> str | None:
    # A mention names a user id the bridge looks up; it must be one (no NUL, spec length).
    for quoted in _PILL.findall(formatted if isinstance(formatted, str) else ""):
        user_id = unquote(quoted)
        if text_problem(user_id) is not None or len(user_id.encode()) > MAX_ID_BYTES:
            return "a mention names an invalid user id"
    return None


def _reaction_problem(content: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    del event
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict) or not all(
        isinstance(relates.get(k), str) for k in ("rel_type", "event_id", "key")
    ):
        return "m.reaction without a string rel_type, event_id and key"
    return None


def _redaction_problem(content: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    # Room v11 moved ``redacts`` into the content; older versions keep it top-level.
    redacts = content.get("redacts", event.get("redacts"))
    if not isinstance(redacts, str):
        return "m.room.redaction without a string 'redacts'"
    return None


_MEMBERSHIPS = frozenset(m.value for m in Membership)


def _member_problem(content: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    del event
    if content.get("membership") not in _MEMBERSHIPS:
        return "m.room.member without a membership of the spec"
    return _typed(content, {"displayname": (str, type(None)), "avatar_url": (str, type(None))})


def _visibility_problem(content: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    del event
    if not isinstance(content.get("history_visibility"), str):
        return "m.room.history_visibility without a string history_visibility"
    return None


_CONTENT_CHECKS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]] = {
    "m.room.message": _message_problem,
    "m.reaction": _reaction_problem,
    "m.room.redaction": _redaction_problem,
    "m.room.member": _member_problem,
    "m.room.history_visibility": _visibility_problem,
}
