"""The realtime API: DDP over a websocket at ``/websocket`` (rocketchat-api.md §8).

Frames follow what Rocket.Chat's own ddp-client expects (§9, ddp-client test helpers):
``connected`` with a session, ``ping``/``pong``, ``result`` (+ ``updated``) for methods,
``ready``/``nosub`` for subscriptions, and stream events as ``changed`` on a collection
named like the stream. Dates are EJSON ``{"$date": ms}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from bridge.sandbox.rocketchat.access import can_access
from bridge.sandbox.rocketchat.appkeys import HUB_KEY, STATE_KEY
from bridge.sandbox.rocketchat.state import Doc, SimState, SimUser, random_id, render_ddp

log = logging.getLogger(__name__)

ROOM_MESSAGES = "stream-room-messages"
NOTIFY_ROOM = "stream-notify-room"
MY_MESSAGES = "__my_messages__"


def _meteor_error(error: str | int, reason: str) -> Doc:
    return {
        "isClientSafe": True,
        "error": error,
        "reason": reason,
        "message": f"{reason} [{error}]",
        "errorType": "Meteor.Error",
    }


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
        for session in list(self.sessions):
            if session.user is not None:
                self._dispatch(session, session.user, kind, payload)

    def _dispatch(self, session: Session, user: SimUser, kind: str, payload: Doc) -> None:
        room = self.state.rooms.get(payload["rid"])
        if room is None or not can_access(user, room):
            return
        for name, param in session.subs.values():
            if kind == "message" and name == ROOM_MESSAGES and param in (MY_MESSAGES, room.id):
                args: list[Any] = [render_ddp(payload)]
                if param == MY_MESSAGES:
                    args.append(
                        {
                            "roomParticipant": user.id in room.members,
                            "roomType": room.t,
                            "roomName": room.name,
                        }
                    )
                session.send(_changed(name, param, args))
            elif name == NOTIFY_ROOM and param == f"{room.id}/{kind}":
                session.send(_changed(name, param, [_event_arg(kind, payload)]))

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
        """Meteor pings idle clients and drops those that do not answer (§8 frame 2)."""
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
        params = frame.get("params") or [{}]
        if frame.get("method") != "login":
            error = _meteor_error(404, f"Method '{frame.get('method')}' not found")
            session.send({"msg": "result", "id": call_id, "error": error})
            return
        token = params[0].get("resume") if params and isinstance(params[0], dict) else None
        user = next(
            (
                u
                for u in self.state.users.values()
                if isinstance(token, str)
                and any(secrets.compare_digest(t, token) for t in u.tokens)
            ),
            None,
        )
        if user is None or not user.active:
            error = _meteor_error(403, "You've been logged out by the server. Please log in again.")
            session.send({"msg": "result", "id": call_id, "error": error})
        else:
            session.user = user
            expires = self.state.now_ms() + 90 * 86400 * 1000
            result = {
                "id": user.id,
                "token": token,
                "tokenExpires": {"$date": expires},
                "type": "resume",
            }
            session.send({"msg": "result", "id": call_id, "result": result})
        session.send({"msg": "updated", "methods": [call_id]})

    def _on_sub(self, session: Session, frame: Doc) -> None:
        sub_id = str(frame.get("id"))
        name = frame.get("name")
        params = frame.get("params") or []
        param = str(params[0]) if params else ""
        if (
            session.user is None
            or name not in (ROOM_MESSAGES, NOTIFY_ROOM)
            or not self._may_read(session.user, name, param)
        ):
            session.send(
                {"msg": "nosub", "id": sub_id, "error": _meteor_error("not-allowed", "Not allowed")}
            )
            return
        session.subs[sub_id] = (str(name), param)
        session.send({"msg": "ready", "subs": [sub_id]})

    def _may_read(self, user: SimUser, name: str, param: str) -> bool:
        if name == ROOM_MESSAGES:
            room = self.state.rooms.get(param)
            return param == MY_MESSAGES or (room is not None and can_access(user, room))
        # stream-notify-room needs a subscription to the room (notifications.module.ts, §8).
        rid, _, event = param.partition("/")
        room = self.state.rooms.get(rid)
        return room is not None and user.id in room.members and bool(event)


def _changed(stream: str, event_name: str, args: list[Any]) -> Doc:
    return {
        "msg": "changed",
        "collection": stream,
        "id": "id",
        "fields": {"eventName": event_name, "args": args},
    }


def _event_arg(kind: str, payload: Doc) -> Doc:
    if kind == "deleteMessage":
        return {"_id": payload["_id"]}
    arg = dict(payload)
    arg["ts"] = {op: {"$date": ms} for op, ms in payload["ts"].items()}
    return arg


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
