"""The erasure request/response protocol between homeservers (docs/erasure-protocol.md):
parsing and building its event contents, shared by the bridge and the receiver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.privacy.notices import ACK_EVENT, REQUEST_EVENT, RESPONSE_EVENT

__all__ = [
    "ACK_EVENT",
    "REQUEST_EVENT",
    "RESPONSE_EVENT",
    "VERSION",
    "ProtocolError",
    "Request",
    "Response",
]

VERSION = 2
STATUSES = ("received", "applied", "refused")
MAX_ITEMS = 10_000


class ProtocolError(ValueError):
    """Content that is not a valid request or response; the message says what."""


def _str(content: Mapping[str, Any], key: str, limit: int = 255) -> str:
    value = content.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ProtocolError(f"{key} must be a non-empty string of at most {limit} characters")
    return value


@dataclass(frozen=True)
class Request:
    request_id: str
    sender_server: str
    events: tuple[tuple[str, str], ...]  # (room id, event id)
    media: tuple[str, ...]
    subject: str
    legal_basis: str
    deadline_ms: int

    @classmethod
    def parse(cls, content: Mapping[str, Any]) -> Request:
        version = content.get("version")
        if version not in (1, VERSION):
            raise ProtocolError(f"unknown version {version!r}")
        request_id = _str(content, "request_id", 64)
        events: list[tuple[str, str]] = []
        if version == 1:
            rooms = content.get("rooms")
            if not isinstance(rooms, dict):
                raise ProtocolError("rooms must be an object")
            events = [(str(r), str(e)) for r, ids in rooms.items() for e in ids or ()]
        else:
            for item in content.get("events") or ():
                if not isinstance(item, dict):
                    raise ProtocolError("events must be objects with room_id and event_id")
                events.append((_str(item, "room_id"), _str(item, "event_id")))
        media = content.get("media") or []
        if not isinstance(media, list) or not all(
            isinstance(m, str) and m.startswith("mxc://") for m in media
        ):
            raise ProtocolError("media must be a list of mxc:// URIs")
        if len(events) + len(media) > MAX_ITEMS:
            raise ProtocolError(f"more than {MAX_ITEMS} events and media")
        deadline = content.get("deadline")
        if not isinstance(deadline, int):
            raise ProtocolError("deadline must be an integer (ms since the epoch)")
        return cls(
            request_id,
            _str(content, "from"),
            tuple(events),
            tuple(media),
            str(content.get("subject") or ""),
            str(content.get("legal_basis") or ""),
            deadline,
        )


@dataclass(frozen=True)
class Response:
    request_id: str
    status: str  # received | applied | refused
    detail: str = ""
    reason: str = ""
    purged: Mapping[str, int] = field(default_factory=dict)
    expunge_after_ms: int | None = None

    def content(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "version": VERSION,
            "request_id": self.request_id,
            "status": self.status,
        }
        if self.status == "applied":
            body |= {
                "purged": dict(self.purged),
                "expunge_after": self.expunge_after_ms,
                "detail": self.detail,
            }
        elif self.status == "refused":
            body["reason"] = self.reason
        return body

    @classmethod
    def parse(cls, content: Mapping[str, Any]) -> Response:
        if content.get("version") != VERSION:
            raise ProtocolError(f"unknown version {content.get('version')!r}")
        status = content.get("status")
        if status not in STATUSES:
            raise ProtocolError(f"status must be one of {', '.join(STATUSES)}")
        purged = content.get("purged") or {}
        if not isinstance(purged, dict) or not all(isinstance(v, int) for v in purged.values()):
            raise ProtocolError("purged must map names to counts")
        expunge = content.get("expunge_after")
        return cls(
            _str(content, "request_id", 64),
            str(status),
            str(content.get("detail") or "")[:400],
            str(content.get("reason") or "")[:400],
            {str(k): int(v) for k, v in purged.items()},
            expunge if isinstance(expunge, int) else None,
        )
