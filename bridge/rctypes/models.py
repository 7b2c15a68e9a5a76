"""Typed values for Rocket.Chat users, rooms and messages.

Parsers accept both wire shapes of a date: ISO strings over REST and EJSON
``{"$date": ms}`` over DDP (docs/rocketchat-notes.md). Unknown fields are ignored so a newer
server does not break the bridge. A message keeps its document as received (``raw``):
the Rocket.Chat connector stores that in the inbox, where its validator judges it; the
rest of the bridge reads the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername

# System message types the bridge reacts to (IMessage.ts ``MessageTypesValues``).
MSG_REMOVED = "rm"
USER_JOINED = "uj"
USER_LEFT = "ul"
USER_ADDED = "au"
USER_REMOVED = "ru"
ROOM_TOPIC_CHANGED = "room_changed_topic"


def parse_date(value: Any) -> datetime | None:
    """Parse an ISO string, an EJSON ``{"$date": ms}`` or epoch milliseconds.

    Raises only ``ValueError`` for a value that is no usable date (an out-of-range
    timestamp raises ``OverflowError`` or ``OSError`` in ``datetime`` itself).
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("$date")
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        if isinstance(value, str):
            if value.isdigit():
                return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (OverflowError, OSError) as e:
        raise ValueError(f"date out of range: {e}") from e
    return None


def to_iso(value: datetime) -> str:
    """Rocket.Chat's ISO form: millisecond precision and a ``Z`` suffix."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _mapping(data: object, key: str) -> Mapping[str, Any]:
    # Lenient like the rest of the parsers: a sub-document of the wrong type reads as
    # absent; bridge.rocketchat.validation decides whether the message is usable.
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _list(data: object, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, list) else []


@attrs.frozen
class RCUserRef:
    """The ``u`` / ``editedBy`` sub-document of a message."""

    id: RCUserID
    username: RCUsername
    name: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCUserRef:
        return cls(
            id=RCUserID(str(data.get("_id", ""))),
            username=RCUsername(str(data.get("username", ""))),
            name=_str(data, "name"),
        )


@attrs.frozen
class RCUser:
    id: RCUserID
    username: RCUsername
    name: str | None
    active: bool
    roles: tuple[str, ...]
    emails: tuple[str, ...]
    type: str | None = None
    avatar_url: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCUser:
        emails = tuple(
            str(e.get("address")) for e in data.get("emails") or () if isinstance(e, Mapping)
        )
        return cls(
            id=RCUserID(str(data["_id"])),
            username=RCUsername(str(data.get("username", ""))),
            name=_str(data, "name"),
            active=bool(data.get("active", True)),
            roles=tuple(str(r) for r in data.get("roles") or ()),
            emails=emails,
            type=_str(data, "type"),
            avatar_url=_str(data, "avatarUrl"),
        )


@attrs.frozen
class RCRoom:
    """A room; ``type`` is ``c`` (public), ``p`` (private), ``d`` (DM) or ``l``."""

    id: RCRoomID
    type: str
    name: str | None
    usernames: tuple[RCUsername, ...] = ()
    read_only: bool = False
    updated_at: datetime | None = None
    topic: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCRoom:
        # im.create answers with "rid" next to "_id", other endpoints only "_id".
        room_id = data.get("_id") or data.get("rid")
        return cls(
            id=RCRoomID(str(room_id)),
            type=str(data.get("t", "")),
            name=_str(data, "name") or _str(data, "fname"),
            usernames=tuple(RCUsername(str(u)) for u in data.get("usernames") or ()),
            read_only=bool(data.get("ro", False)),
            topic=_str(data, "topic"),
            updated_at=parse_date(data.get("_updatedAt")),
        )


@attrs.frozen
class RCFile:
    id: str
    name: str | None = None
    type: str | None = None
    size: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCFile:
        size = data.get("size")
        return cls(
            id=str(data.get("_id", "")),
            name=_str(data, "name"),
            type=_str(data, "type"),
            size=size if isinstance(size, int) else None,
        )


@attrs.frozen
class RCAttachment:
    """One entry of ``attachments``; file attachments carry ``title_link``."""

    type: str | None = None
    title: str | None = None
    title_link: str | None = None
    text: str | None = None
    image_url: str | None = None
    audio_url: str | None = None
    video_url: str | None = None
    message_link: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCAttachment:
        return cls(
            type=_str(data, "type"),
            title=_str(data, "title"),
            title_link=_str(data, "title_link"),
            text=_str(data, "text"),
            image_url=_str(data, "image_url"),
            audio_url=_str(data, "audio_url"),
            video_url=_str(data, "video_url"),
            message_link=_str(data, "message_link"),
        )


@attrs.frozen
class RCMessage:
    """A message document (core-typings ``IMessage``)."""

    id: RCMessageID
    room_id: RCRoomID
    text: str
    ts: datetime
    updated_at: datetime
    user: RCUserRef
    type: str | None = None
    alias: str | None = None
    thread_id: RCMessageID | None = None
    edited_at: datetime | None = None
    edited_by: RCUserRef | None = None
    attachments: tuple[RCAttachment, ...] = ()
    files: tuple[RCFile, ...] = ()
    reactions: Mapping[str, tuple[RCUsername, ...]] = attrs.field(factory=dict)
    pinned: bool = False
    bot: bool = False
    # How many replies the message's thread has (``tcount``): 0 for no thread.
    thread_count: int = 0
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def is_deleted(self) -> bool:
        """Soft-deleted (``Message_ShowDeletedStatus`` on): ``t: 'rm'``."""
        return self.type == MSG_REMOVED

    @property
    def is_edited(self) -> bool:
        return self.edited_at is not None and not self.is_deleted

    @property
    def is_system(self) -> bool:
        return self.type is not None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RCMessage:
        ts = parse_date(data.get("ts")) or datetime.fromtimestamp(0, tz=UTC)
        files = [data["file"]] if isinstance(data.get("file"), Mapping) else []
        files += [f for f in _list(data, "files") if isinstance(f, Mapping)]
        unique_files = {str(f.get("_id")): RCFile.parse(f) for f in files}
        reactions = {
            str(emoji): tuple(RCUsername(str(u)) for u in _list(value, "usernames"))
            for emoji, value in _mapping(data, "reactions").items()
        }
        edited_by = data.get("editedBy")
        tmid = _str(data, "tmid")
        tcount = data.get("tcount")
        return cls(
            id=RCMessageID(str(data["_id"])),
            room_id=RCRoomID(str(data.get("rid", ""))),
            text=str(data.get("msg") or ""),
            ts=ts,
            updated_at=parse_date(data.get("_updatedAt")) or ts,
            user=RCUserRef.parse(_mapping(data, "u")),
            type=_str(data, "t"),
            alias=_str(data, "alias"),
            thread_id=RCMessageID(tmid) if tmid else None,
            edited_at=parse_date(data.get("editedAt")),
            edited_by=RCUserRef.parse(edited_by) if isinstance(edited_by, Mapping) else None,
            attachments=tuple(
                RCAttachment.parse(a) for a in _list(data, "attachments") if isinstance(a, Mapping)
            ),
            files=tuple(unique_files.values()),
            reactions=reactions,
            pinned=bool(data.get("pinned", False)),
            bot=bool(data.get("bot")),
            thread_count=tcount if isinstance(tcount, int) and not isinstance(tcount, bool) else 0,
            raw=dict(data),
        )


@attrs.frozen
class RCLogin:
    """Credentials in use: the user id and its auth token (session token or PAT)."""

    user_id: RCUserID
    auth_token: str = attrs.field(repr=False)


@attrs.frozen
class RCUpload:
    """A file stored by ``rooms.media``, waiting for ``rooms.mediaConfirm``."""

    file_id: str
    url: str | None


@attrs.frozen
class RCPruneResult:
    """``rooms.cleanHistory`` answer; the server reports how many it removed."""

    room_id: RCRoomID
    count: int


@attrs.frozen
class RCSyncResult:
    """``chat.syncMessages``: updated documents and ``{_id, _deletedAt}`` of removed ones."""

    updated: tuple[RCMessage, ...]
    deleted: tuple[tuple[RCMessageID, datetime | None], ...]
