"""The realtime API: DDP over a websocket at ``/websocket`` (docs/rocketchat-notes.md).

Frames follow what Rocket.Chat's own ddp-client expects (ddp-client test helpers):
``connected`` with a session, ``ping``/``pong``, ``result`` (+ ``updated``) for methods,
``ready``/``nosub`` for subscriptions, and stream events as ``changed`` on a collection
named like the stream. Dates are EJSON ``{"$date": ms}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from bridge.sandbox.rocketchat import realtime_streams as streams
from bridge.sandbox.rocketchat.appkeys import HUB_KEY, STATE_KEY
from bridge.sandbox.rocketchat.realtime_methods import METHODS, MethodError
from bridge.sandbox.rocketchat.state import Doc, SimState, SimUser, random_id

log = logging.getLogger(__name__)


def _meteor_error(error: str | int, reason: str) -> Doc:
    return MethodError(error, reason).frame()


@attrs.define(eq=False)  # identity hashing: sessions live in a set
class Session:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[Doc | None] = attrs.field(factory=asyncio.Queue)
    user: SimUser | None = None
    subs: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    got_pong: bool = True

    def send(self, frame: Doc) -> None:
        self.outbox.put_nowait(frame)


class RealtimeHub:
    """Live DDP sessions; receives state changes and fans them out as stream events."""

    def __init__(self, state: SimState, ping_interval: float = 15.0) -> None:
        self.state = state
        self.ping_interval = ping_interval
        self.sessions: set[Session] = set()

    def on_change(self, kind: str, payload: Doc) -> None:
        self.broadcast(kind, payload)

    def broadcast(self, kind: str, payload: Doc, exclude: Session | None = None) -> None:
        """Send each session the stream events it is subscribed to (one per subscription)."""
        for session in list(self.sessions):
            if session is exclude or not session.subs:
                continue
            if kind in ("messageInserted", "room") and not any(
                name == streams.NOTIFY_USER for name, _ in session.subs.values()
            ):
                continue  # only rooms-changed and notifications come of these
            for stream, event, args in streams.events_for(self.state, session.user, kind, payload):
                for name, param in session.subs.values():
                    if (name, param) == (stream, event):
                        session.send(_changed(stream, event, args))

    async def close_all(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = Session(ws)
        self.sessions.add(session)
        writer = asyncio.create_task(self._writer(session))
        pinger = asyncio.create_task(self._pinger(session))
        session.send({"server_id": "0"})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    self._on_frame(session, frame)
        finally:
            self.sessions.discard(session)
            user = session.user
            if user is not None and not any(s.user is user for s in self.sessions):
                self._presence(user, "offline")
            pinger.cancel()
            session.outbox.put_nowait(None)
            await asyncio.gather(writer, pinger, return_exceptions=True)
        return ws

    async def _writer(self, session: Session) -> None:
        while (frame := await session.outbox.get()) is not None:
            if session.ws.closed:
                return
            await session.ws.send_str(json.dumps(frame))

    async def _pinger(self, session: Session) -> None:
        """Meteor pings idle clients and drops those that do not answer."""
        while not session.ws.closed:
            await asyncio.sleep(self.ping_interval)
            if not session.got_pong:
                log.info("DDP client missed a pong; closing")
                await session.ws.close()
                return
            session.got_pong = False
            session.send({"msg": "ping"})

    def _on_frame(self, session: Session, frame: Doc) -> None:
        kind = frame.get("msg")
        if kind == "connect":
            session.send({"msg": "connected", "session": random_id()})
        elif kind == "ping":
            session.send({"msg": "pong", **({"id": frame["id"]} if "id" in frame else {})})
        elif kind == "pong":
            session.got_pong = True
        elif kind == "method":
            self._on_method(session, frame)
        elif kind == "sub":
            self._on_sub(session, frame)
        elif kind == "unsub":
            session.subs.pop(str(frame.get("id")), None)
            session.send({"msg": "nosub", "id": frame.get("id")})

    def _on_method(self, session: Session, frame: Doc) -> None:
        call_id = frame.get("id")
        method = str(frame.get("method"))
        params = frame.get("params")
        params = params if isinstance(params, list) else []
        reply: Doc = {"msg": "result", "id": call_id}
        was = session.user
        try:
            if method in streams.STREAMS:
                self._write_stream(session, method, params)
                result = None
            elif method in METHODS:
                result = METHODS[method](self.state, session, params)
            else:
                raise MethodError(404, f"Method '{method}' not found")
        except MethodError as exc:
            reply["error"] = exc.frame()
        else:
            if result is not None:
                reply["result"] = result
        session.send(reply)
        session.send({"msg": "updated", "methods": [call_id]})
        if session.user is not None and session.user is not was:
            self._presence(session.user, "online")

    def _write_stream(self, session: Session, name: str, params: list[Any]) -> None:
        """A client emitting on a stream: only typing on stream-notify-room is allowed, by a
        member of the room, under their own username (notifications.module.ts allowWrite);
        the streamer passes it on to the other subscribers, not back to the sender."""
        user = session.user
        event = str(params[0]) if params else ""
        rid, _, kind = event.partition("/")
        room = self.state.rooms.get(rid)
        allowed = (
            name == streams.NOTIFY_ROOM
            and kind in ("user-activity", "typing")
            and user is not None
            and room is not None
            and user.id in room.members
            and len(params) > 1
            and params[1] == user.username
        )
        if not allowed:
            raise MethodError("not-allowed", "Not allowed")
        self.broadcast(kind, {"rid": rid, "args": params[1:]}, exclude=session)

    def _presence(self, user: SimUser, status: str) -> None:
        """``user-status`` on stream-notify-logged: ``[_id, username, status, statusText,
        name, roles]`` with status 0 offline, 1 online (listeners.module.ts STATUS_MAP)."""
        code = {"offline": 0, "online": 1}[status]
        row = [user.id, user.username, code, "", user.name, list(user.roles)]
        self.broadcast("presence", {"args": [row]})

    def _on_sub(self, session: Session, frame: Doc) -> None:
        sub_id = str(frame.get("id"))
        name = str(frame.get("name"))
        params = frame.get("params") or []
        param = str(params[0]) if params else ""
        if name not in streams.STREAMS or not streams.may_read(
            self.state, session.user, name, param
        ):
            session.send(
                {"msg": "nosub", "id": sub_id, "error": _meteor_error("not-allowed", "Not allowed")}
            )
            return
        session.subs[sub_id] = (name, param)
        session.send({"msg": "ready", "subs": [sub_id]})


def _changed(stream: str, event_name: str, args: list[Any]) -> Doc:
    return {
        "msg": "changed",
        "collection": stream,
        "id": "id",
        "fields": {"eventName": event_name, "args": args},
    }


async def websocket(request: web.Request) -> web.WebSocketResponse:
    return await request.app[HUB_KEY].handle(request)


def setup(app: web.Application, ping_interval: float) -> None:
    hub = RealtimeHub(app[STATE_KEY], ping_interval)
    app[HUB_KEY] = hub
    app.router.add_get("/websocket", websocket)

    async def on_startup(_: web.Application) -> None:
        hub.state.listeners.append(hub.on_change)

    async def on_shutdown(_: web.Application) -> None:
        if hub.on_change in hub.state.listeners:
            hub.state.listeners.remove(hub.on_change)
        await hub.close_all()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
