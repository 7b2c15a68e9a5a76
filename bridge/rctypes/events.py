"""Events the connector hands to the bridging core.

The same values come from the realtime stream, from catch-up after a (re)connect and from
outgoing-webhook intake. Rocket.Chat's message stream is an *upsert* stream: a
``MessagePosted`` for an id already seen is an in-place change (reaction, URL preview).
Consumers de-duplicate on ``(message id, updated_at)``; catch-up may re-deliver, it never
skips.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername
from bridge.rctypes.models import RCMessage, parse_date


class EventSource(enum.Enum):
    REALTIME = "realtime"
    CATCHUP = "catchup"
    WEBHOOK = "webhook"


@attrs.frozen
class MessagePosted:
    """A message (or system message, see ``message.type``) was created or changed."""

    message: RCMessage
    source: EventSource

    @property
    def room_id(self) -> RCRoomID:
        return self.message.room_id


@attrs.frozen
class MessageEdited:
    """The text of a message was edited (``editedAt`` present)."""

    message: RCMessage
    source: EventSource

    @property
    def room_id(self) -> RCRoomID:
        return self.message.room_id


@attrs.frozen
class MessageDeleted:
    """A message was removed.

    ``message`` is set when the server kept a ``t: 'rm'`` tombstone
    (``Message_ShowDeletedStatus`` on); ``deleted_at`` when catch-up saw the trash entry.
    A realtime ``deleteMessage`` event carries neither.
    """

    room_id: RCRoomID
    message_id: RCMessageID
    source: EventSource
    deleted_at: datetime | None = None
    message: RCMessage | None = None


@attrs.frozen
class MessagesPruned:
    """``rooms.cleanHistory`` ran: one ``deleteMessageBulk`` event per prune.

    The event names a time range and usernames, not messages (``ids`` only when a
    ``limit`` was used), so the consumer must re-evaluate which of its messages match.
    An empty ``users`` means everyone.
    """

    room_id: RCRoomID
    oldest: datetime | None
    latest: datetime | None
    inclusive: bool
    users: tuple[RCUsername, ...]
    source: EventSource
    ids: tuple[RCMessageID, ...] | None = None
    exclude_pinned: bool = False
    ignore_discussion: bool = True
    ignore_threads: bool | None = None
    files_only: bool = False

    def matches(self, message: RCMessage) -> bool:
        """Whether the prune would have removed ``message`` (same rules as the server)."""
        if self.ids is not None:
            return message.id in self.ids
        if message.room_id != self.room_id:
            return False
        if self.users and message.user.username not in self.users:
            return False
        if self.exclude_pinned and message.pinned:
            return False
        if self.ignore_threads is not False and (message.thread_id or message.thread_count):
            return False
        if self.oldest and (
            message.ts < self.oldest or (message.ts == self.oldest and not self.inclusive)
        ):
            return False
        return not (
            self.latest
            and (message.ts > self.latest or (message.ts == self.latest and not self.inclusive))
        )

    @classmethod
    def parse(
        cls, room_id: RCRoomID, data: Mapping[str, Any], source: EventSource
    ) -> MessagesPruned:
        """Parse a ``deleteMessageBulk`` argument: ``ts`` is a Mongo range (``$gt``/``$gte``…)."""
        ts_range = data.get("ts") or {}
        oldest = parse_date(ts_range.get("$gte", ts_range.get("$gt")))
        latest = parse_date(ts_range.get("$lte", ts_range.get("$lt")))
        ids = data.get("ids")
        ignore_threads = data.get("ignoreThreads")
        return cls(
            room_id=RCRoomID(str(data.get("rid") or room_id)),
            oldest=oldest,
            latest=latest,
            inclusive="$gte" in ts_range or "$lte" in ts_range,
            users=tuple(RCUsername(str(u)) for u in data.get("users") or ()),
            source=source,
            ids=tuple(RCMessageID(str(i)) for i in ids) if isinstance(ids, list) else None,
            exclude_pinned=bool(data.get("excludePinned", False)),
            ignore_discussion=bool(data.get("ignoreDiscussion", True)),
            ignore_threads=ignore_threads if isinstance(ignore_threads, bool) else None,
            files_only=bool(data.get("filesOnly", False)),
        )


# Rocket.Chat's ``Message_ErasureType`` values (apps/meteor/app/lib/server/functions/
# deleteUser.ts): what happens to a deleted person's messages.
ERASURE_TYPES = ("Delete", "Unlink", "Keep")


@attrs.frozen
class UserDeleted:
    """A person's account was deleted (``Users:Deleted`` on ``stream-notify-logged``, or
    found gone by the people check, see ``bridge.rocketchat.people``).

    ``erasure_type`` is what became of their messages; ``alias`` the name Rocket.Chat now
    shows on them under ``Unlink`` ("Removed User"). Nothing the server announces names
    who deleted the account (an admin, or the person themself).
    """

    user_id: RCUserID
    erasure_type: str
    source: EventSource
    alias: str | None = None
    username: RCUsername | None = None


@attrs.frozen
class UserRenamed:
    """``Users:NameChanged``: a new username, or a new real name (the latter only
    announced while ``UI_Use_Real_Name`` is on, apps/meteor/app/lib/server/functions/
    setRealName.ts)."""

    user_id: RCUserID
    username: RCUsername
    name: str | None
    source: EventSource


@attrs.frozen
class AvatarChanged:
    """``updateAvatar``: a new avatar (``etag``), or the default again (no ``etag``)."""

    username: RCUsername
    etag: str | None
    source: EventSource


PersonEvent = UserDeleted | UserRenamed | AvatarChanged
RCEvent = MessagePosted | MessageEdited | MessageDeleted | MessagesPruned | PersonEvent
EventSink = Callable[[RCEvent], Awaitable[None]]


def event_for_message(message: RCMessage, source: EventSource) -> RCEvent:
    """Classify one document of the upsert stream."""
    if message.is_deleted:
        return MessageDeleted(
            room_id=message.room_id,
            message_id=message.id,
            source=source,
            deleted_at=message.edited_at or message.updated_at,
            message=message,
        )
    if message.is_edited:
        return MessageEdited(message=message, source=source)
    return MessagePosted(message=message, source=source)
