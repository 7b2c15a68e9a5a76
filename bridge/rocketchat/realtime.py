"""Realtime intake: DDP streams plus catch-up after every (re)connect (docs/architecture.md).

``RealtimeListener.run()`` loops: connect → ``login`` with the resume token →
subscribe ``stream-room-messages`` ``__my_messages__`` and, per bridged room,
``stream-notify-room`` ``<rid>/deleteMessage`` and ``<rid>/deleteMessageBulk``, and
``stream-notify-logged`` ``Users:Deleted``, ``Users:NameChanged`` and ``updateAvatar`` →
catch up with
``chat.syncMessages`` → deliver stream events. Any failure (including the sink raising)
drops the connection and retries with capped backoff; the cursor only moves after the sink
accepted an event, so the next catch-up re-delivers whatever was not handled.

A bulk deletion (``deleteMessageBulk``) names a time range and a few filters, not the
messages: which ones went depends on options the event does not carry (``filesOnly``,
``ignoreThreads``; Rocket.Chat apps/meteor/app/lib/server/functions/cleanRoomHistory.ts).
The removed messages are in the server's trash, so the room is caught up on at once:
``chat.syncMessages`` names each removed id, and exactly those are deleted on Matrix.

The bridge's own posts coming back (echoes.py) are not delivered, but they still move
their room's cursor: otherwise a room whose traffic all came from Matrix keeps an old
cursor, and every reconnect's catch-up fetches and stores all those echoes again. The
echo takes its place in the queue, so the cursor passes it only once everything received
before it was delivered; those moves are written together when the queue is empty and
``echo_cursor_seconds`` have passed (one write per room and interval, not one per echo).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import attrs

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername
from bridge.pipeline.backoff import Backoff
from bridge.pipeline.stages import RELAY, rc_message
from bridge.rctypes.events import (
    AvatarChanged,
    EventSink,
    EventSource,
    MessageDeleted,
    MessagePosted,
    MessagesPruned,
    RCEvent,
    UserDeleted,
    UserRenamed,
    event_for_message,
)
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.catchup import CatchUp
from bridge.rocketchat.cursor import CursorStore
from bridge.rocketchat.ddp import DDPConnection
from bridge.rocketchat.echoes import OwnEchoes
from bridge.rocketchat.errors import RCError, RCRealtimeError, room_refused
from bridge.rocketchat.rest import RCRestClient

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MY_MESSAGES = "__my_messages__"
NOTIFY_LOGGED = "stream-notify-logged"
# What the bridge follows of people (docs/rocketchat-notes.md, "Streams").
PEOPLE_EVENTS = ("Users:Deleted", "Users:NameChanged", "updateAvatar")


@attrs.frozen
class EchoSeen:
    """A dropped echo's place in the delivery queue: its room and server time."""

    room_id: RCRoomID
    updated_at: datetime


@attrs.frozen
class RealtimeOptions:
    reconnect_base: float = 0.5
    reconnect_max: float = 30.0
    ping_interval: float = 15.0
    call_timeout: float = 15.0
    # How long dropped echoes' cursor moves may wait, to be written together: a cursor
    # that lags only means a longer catch-up, never a lost event.
    echo_cursor_seconds: float = 1.0

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.reconnect_base, self.reconnect_max)


def websocket_url(base_url: str) -> str:
    """``ws(s)://host[/path]/websocket``."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/websocket", "", ""))


class RealtimeListener:
    def __init__(
        self,
        rest: RCRestClient,
        sink: EventSink,
        cursors: CursorStore,
        *,
        rooms: Iterable[RCRoomID] = (),
        options: RealtimeOptions | None = None,
        echoes: OwnEchoes | None = None,
    ) -> None:
        self.rest = rest
        self.echoes = echoes
        self.sink = sink
        self.cursors = cursors
        self.options = options or RealtimeOptions()
        self.rooms: set[RCRoomID] = set(rooms)
        self.catchup = CatchUp(rest, cursors, sink)
        self.connected = asyncio.Event()
        self.connections = 0
        self._conn: DDPConnection | None = None
        self._queue: asyncio.Queue[RCEvent | EchoSeen] = asyncio.Queue()
        # Dropped echoes' times per room, not yet written to the cursor store.
        self._echo_cursors: dict[RCRoomID, datetime] = {}
        self._echo_due = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="rc-realtime")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def add_room(self, room_id: RCRoomID) -> None:
        """Start following a room; its cursor starts now if it has none."""
        self.rooms.add(room_id)
        await self.catchup.ensure_cursor(room_id)
        if self._conn is not None:
            await self._subscribe_room(self._conn, room_id)

    def remove_room(self, room_id: RCRoomID) -> None:
        # Subscriptions end with the connection; events for it are then ignored.
        self.rooms.discard(room_id)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("Rocket.Chat realtime connection failed")
            self.connected.clear()
            # A connection that ended cleanly is made again after the base wait.
            await asyncio.sleep(self.options.backoff.delay(failures + 1))

    # -- one connection -----------------------------------------------------------------

    async def _session(self) -> None:
        login = self.rest.login_info
        if login is None:
            raise RCError("the REST client is not logged in; no resume token")
        url = websocket_url(self.rest.transport.base_url)
        conn = await DDPConnection.open(
            self.rest.transport.session,
            url,
            self._on_stream,
            ping_interval=self.options.ping_interval,
            call_timeout=self.options.call_timeout,
        )
        reader = asyncio.create_task(conn.run())
        try:
            await conn.call("login", {"resume": login.auth_token})
            await conn.subscribe("stream-room-messages", MY_MESSAGES, False)
            for name in PEOPLE_EVENTS:
                await conn.subscribe(NOTIFY_LOGGED, name, False)
            for room_id in list(self.rooms):
                await self._subscribe_room(conn, room_id)
            self._conn = conn
            self.connections += 1
            # Subscribed first, then caught up: nothing falls between the two (events that
            # arrive meanwhile wait in the queue and may repeat what catch-up delivered).
            await self.catchup.rooms(list(self.rooms))
            self.connected.set()
            log.info("Rocket.Chat realtime connected (%d room(s))", len(self.rooms))
            await self._pump(reader)
        finally:
            self._conn = None
            await conn.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, RCError):
                await reader

    async def _subscribe_room(self, conn: DDPConnection, room_id: RCRoomID) -> None:
        """Follow a room's deletions. A room the server refuses (the bridge's account
        left it, or it is gone) is passed over: one such room must not end the whole
        connection, which would stop every other room's intake with it."""
        try:
            for event in ("deleteMessage", "deleteMessageBulk"):
                await conn.subscribe("stream-notify-room", f"{room_id}/{event}", False)
        except RCRealtimeError as e:
            if not room_refused(e):
                raise
            log.warning("Rocket.Chat refuses the deletion stream of a followed room: %s", e)

    async def _pump(self, reader: asyncio.Task[None]) -> None:
        while True:
            wait = self._echo_wait()
            if wait == 0 and self._queue.empty():
                await self._write_echo_cursors()
                wait = None
            getter = asyncio.create_task(self._queue.get())
            try:
                await asyncio.wait(
                    {getter, reader}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if not getter.done():  # the connection dropped, the listener stopped, or
                    getter.cancel()  # the echoes' cursors are due (the event stays queued)
            if getter.done() and not getter.cancelled():
                await self._deliver(getter.result())
            elif reader.done():
                break
        while not self._queue.empty():  # received before the drop: still ours to deliver
            await self._deliver(self._queue.get_nowait())
        await self._write_echo_cursors()

    def _echo_wait(self) -> float | None:
        """Seconds until the dropped echoes' cursor moves are due; None when none is owed."""
        if not self._echo_cursors:
            return None
        return max(0.0, self._echo_due - time.monotonic())

    async def _write_echo_cursors(self) -> None:
        while self._echo_cursors:
            owed = dict(self._echo_cursors)
            await self.cursors.set_many(owed)
            # Only now: if the write failed, the moves are still owed (and the session ends).
            for room_id, value in owed.items():
                if self._echo_cursors.get(room_id) == value:
                    del self._echo_cursors[room_id]

    async def _deliver(self, event: RCEvent | EchoSeen) -> None:
        if isinstance(event, EchoSeen):
            if event.room_id in self.rooms:
                if not self._echo_cursors:
                    self._echo_due = time.monotonic() + self.options.echo_cursor_seconds
                seen = self._echo_cursors.get(event.room_id)
                if seen is None or event.updated_at > seen:
                    self._echo_cursors[event.room_id] = event.updated_at
            return
        await self.sink(event)
        if isinstance(event, MessagesPruned) and event.room_id in self.rooms:
            # The trash names what the prune removed (see the module's docstring).
            await self.catchup.room(event.room_id)
            return
        if isinstance(event, MessageDeleted) and event.source is EventSource.REALTIME:
            return  # it carries no server time to move the cursor to
        message = getattr(event, "message", None)
        if isinstance(message, RCMessage) and message.room_id in self.rooms:
            await self.cursors.set(message.room_id, message.updated_at)

    def _on_stream(self, collection: str, event_name: str, args: list[Any]) -> None:
        try:
            event = self._parse(collection, event_name, args)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Only what cannot become an event at all is dropped here; a parsed message
            # with bad fields goes to the inbox, where it is recorded as skipped.
            log.warning("Ignoring malformed %s event %.80s", collection, event_name)
            return
        if event is None:
            return
        if (
            self.echoes is not None
            and isinstance(event, MessagePosted)
            and self.echoes.is_plain_echo(event.message)
        ):
            # The bridge's own post, already recorded by its executor (echoes.py): only
            # its place in the stream is kept, for the cursor.
            self._queue.put_nowait(EchoSeen(event.message.room_id, event.message.updated_at))
            return
        if isinstance(event, MessagePosted):
            RELAY.mark(rc_message(event.message.id), "received")
        self._queue.put_nowait(event)

    def _parse(self, collection: str, event_name: str, args: list[Any]) -> RCEvent | None:
        if not args or not isinstance(args[0], dict):
            return None
        if collection == "stream-room-messages":
            return event_for_message(RCMessage.parse(args[0]), EventSource.REALTIME)
        if collection == NOTIFY_LOGGED:
            return _person_event(event_name, args[0])
        if collection != "stream-notify-room":
            return None
        rid, _, kind = event_name.partition("/")
        if kind == "deleteMessage":
            message_id = args[0]["_id"]
            if not isinstance(message_id, str):
                raise TypeError("deleteMessage without a string _id")
            return MessageDeleted(RCRoomID(rid), RCMessageID(message_id), EventSource.REALTIME)
        if kind == "deleteMessageBulk":
            return MessagesPruned.parse(RCRoomID(rid), args[0], EventSource.REALTIME)
        return None


def _person_event(name: str, data: dict[str, Any]) -> RCEvent | None:
    """The ``stream-notify-logged`` events about people (Rocket.Chat
    apps/meteor/server/modules/listeners/listeners.module.ts)."""
    if name == "Users:Deleted":
        erasure = data["messageErasureType"]
        replaced = data.get("replaceByUser")
        alias = replaced.get("alias") if isinstance(replaced, dict) else None
        if not isinstance(erasure, str) or not isinstance(alias, str | None):
            raise TypeError("Users:Deleted with a malformed erasure type")
        return UserDeleted(_text(data, "userId", RCUserID), erasure, EventSource.REALTIME, alias)
    if name == "Users:NameChanged":
        user_name = data.get("name")
        return UserRenamed(
            _text(data, "_id", RCUserID),
            _text(data, "username", RCUsername),
            user_name if isinstance(user_name, str) else None,
            EventSource.REALTIME,
        )
    if name == "updateAvatar":
        etag = data.get("etag")
        return AvatarChanged(
            _text(data, "username", RCUsername),
            etag if isinstance(etag, str) else None,
            EventSource.REALTIME,
        )
    return None


def _text(data: dict[str, Any], key: str, kind: Callable[[str], _T]) -> _T:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} is not a string")
    return kind(value)


class EventQueue:
    """An :data:`EventSink` that can be consumed as an async iterator."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[RCEvent] = asyncio.Queue()

    async def __call__(self, event: RCEvent) -> None:
        await self._queue.put(event)

    def __aiter__(self) -> EventQueue:
        return self

    async def __anext__(self) -> RCEvent:
        return await self._queue.get()
