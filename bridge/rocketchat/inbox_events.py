"""Rocket.Chat events ⇄ inbox payloads.

The connector's events are persisted before its cursor moves on, then processed from the
inbox like Matrix events. The inbox ``event_id`` is the de-duplication key: the same
message version (id + ``_updatedAt``) delivered by realtime and again by catch-up is
stored once. A message is stored as the server sent its document, so the strict
validator (bridge.rocketchat.validation) judges what was sent, not what the lenient
parser made of it; :func:`read` validates it and parses it once for every handler.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername
from bridge.pipeline.contracts import SkipEvent
from bridge.rctypes.events import (
    AvatarChanged,
    EventSource,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessagesPruned,
    PersonEvent,
    RCEvent,
    UserDeleted,
    UserRenamed,
    event_for_message,
)
from bridge.rctypes.models import RCMessage, parse_date, to_ms
from bridge.rocketchat.validation import inbox_payload_problem
from bridge.storage.inbox import InboxPayload, NewInboxEvent, encode_payload, new_event


def to_record(event: RCEvent) -> NewInboxEvent:
    """``event`` as the inbox stores it."""
    payload = to_payload(event)
    return new_event(
        payload.get("event_id"),
        payload.get("type"),
        payload.get("room_id"),
        encode_payload(payload),
    )


def read(payload: InboxPayload) -> RCEvent:
    """A stored payload as the handlers see it; ``SkipEvent`` says why one is unusable."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as e:
        raise SkipEvent(f"payload is not JSON: {e}"[:200]) from e
    if not isinstance(data, dict):
        raise SkipEvent("payload is not an object")
    problem = inbox_payload_problem(data)
    if problem is not None:
        raise SkipEvent(problem)
    try:
        return from_payload(data)
    except (KeyError, TypeError, ValueError) as e:
        # The validator's checks should leave nothing for the parser to refuse; should one
        # slip through, it is skipped with a reason, never a handler's crash.
        raise SkipEvent(f"payload does not read as a Rocket.Chat event: {e}"[:200]) from e


def to_payload(event: RCEvent) -> dict[str, Any]:
    if isinstance(event, UserDeleted | UserRenamed | AvatarChanged):
        return _person_payload(event)
    if isinstance(event, MessagePosted | MessageEdited):
        return _message_payload(event.message)
    if isinstance(event, MessageDeleted):
        if event.message is not None:
            return _message_payload(event.message)
        return {
            "event_id": f"rc-del:{event.message_id}",
            "room_id": event.room_id,
            "type": "deleted",
            "message_id": event.message_id,
            "deleted_ms": None if event.deleted_at is None else to_ms(event.deleted_at),
        }
    fields = {
        "room_id": event.room_id,
        "oldest_ms": None if event.oldest is None else to_ms(event.oldest),
        "latest_ms": None if event.latest is None else to_ms(event.latest),
        "inclusive": event.inclusive,
        "users": list(event.users),
        "ids": None if event.ids is None else list(event.ids),
        "exclude_pinned": event.exclude_pinned,
        "ignore_threads": event.ignore_threads,
        "files_only": event.files_only,
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
    return {"event_id": f"rc-prune:{digest}", "type": "pruned", **fields}


def _person_payload(event: PersonEvent) -> dict[str, Any]:
    """``type: person``. A deletion's inbox id is the person's id alone: however often it is
    announced or found (realtime, the people check), it is stored once."""
    if isinstance(event, UserDeleted):
        return {
            "event_id": f"rc-person:deleted:{event.user_id}",
            "type": "person",
            "change": "deleted",
            "user_id": event.user_id,
            "username": event.username,
            "erasure_type": event.erasure_type,
            "alias": event.alias,
        }
    # A change is announced once and only by realtime, and may be undone later (a name
    # changed back): each announcement is an event of its own.
    once = secrets.token_hex(12)
    if isinstance(event, UserRenamed):
        return {
            "event_id": f"rc-person:renamed:{once}",
            "type": "person",
            "change": "renamed",
            "user_id": event.user_id,
            "username": event.username,
            "name": event.name,
        }
    return {
        "event_id": f"rc-person:avatar:{once}",
        "type": "person",
        "change": "avatar",
        "username": event.username,
        "etag": event.etag,
    }


def person_from_payload(payload: dict[str, Any]) -> PersonEvent:
    change = payload.get("change")
    if change == "deleted":
        username = payload.get("username")
        return UserDeleted(
            RCUserID(payload["user_id"]),
            payload["erasure_type"],
            EventSource.CATCHUP,
            payload.get("alias"),
            None if username is None else RCUsername(username),
        )
    if change == "renamed":
        return UserRenamed(
            RCUserID(payload["user_id"]),
            RCUsername(payload["username"]),
            payload.get("name"),
            EventSource.CATCHUP,
        )
    if change == "avatar":
        return AvatarChanged(
            RCUsername(payload["username"]), payload.get("etag"), EventSource.CATCHUP
        )
    raise ValueError(f"unknown person change {change!r}")


def _message_payload(message: RCMessage) -> dict[str, Any]:
    return {
        "event_id": f"rc-msg:{message.id}:{to_ms(message.updated_at)}",
        "room_id": message.room_id,
        "type": "message",
        "message": dict(message.raw),
    }


def from_payload(payload: dict[str, Any]) -> RCEvent:
    kind = payload.get("type")
    if kind == "person":
        return person_from_payload(payload)
    if kind == "message":
        return event_for_message(RCMessage.parse(payload["message"]), EventSource.CATCHUP)
    if kind == "deleted":
        deleted_ms = payload.get("deleted_ms")
        return MessageDeleted(
            room_id=RCRoomID(payload["room_id"]),
            message_id=RCMessageID(payload["message_id"]),
            source=EventSource.CATCHUP,
            deleted_at=parse_date(deleted_ms) if deleted_ms is not None else None,
        )
    if kind == "pruned":
        return MessagesPruned(
            room_id=RCRoomID(payload["room_id"]),
            oldest=_date(payload.get("oldest_ms")),
            latest=_date(payload.get("latest_ms")),
            inclusive=bool(payload.get("inclusive")),
            users=tuple(RCUsername(u) for u in payload.get("users") or ()),
            source=EventSource.CATCHUP,
            ids=None
            if payload.get("ids") is None
            else tuple(RCMessageID(i) for i in payload["ids"]),
            exclude_pinned=bool(payload.get("exclude_pinned")),
            ignore_threads=payload.get("ignore_threads"),
            files_only=bool(payload.get("files_only")),
        )
    raise ValueError(f"unknown Rocket.Chat inbox payload type {kind!r}")


def _date(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
