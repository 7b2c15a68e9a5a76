"""Outgoing-webhook intake, for servers that forbid the realtime API (rocketchat-api.md §6).

Rocket.Chat POSTs ``{token, channel_id, message_id, timestamp, user_id, user_name, text,
isEdited?, tmid?, alias?, bot}`` for each message (and again with ``isEdited`` when
``runOnEdits``). There is no outgoing event for deletions, so pair this with periodic
:class:`~bridge.rocketchat.catchup.CatchUp` runs.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web

from bridge.rocketchat.events import EventSink, EventSource, MessageEdited, MessagePosted
from bridge.rocketchat.models import RCMessage

log = logging.getLogger(__name__)


def message_from_payload(payload: dict[str, Any]) -> RCMessage:
    doc: dict[str, Any] = {
        "_id": payload["message_id"],
        "rid": payload["channel_id"],
        "msg": payload.get("text") or "",
        "ts": payload.get("timestamp"),
        "u": {"_id": payload.get("user_id", ""), "username": payload.get("user_name", "")},
        "bot": payload.get("bot") or None,
    }
    for src, dst in (("tmid", "tmid"), ("alias", "alias")):
        if payload.get(src):
            doc[dst] = payload[src]
    if payload.get("isEdited"):
        # The payload has no editedAt; the delivery time is the best we know.
        doc["editedAt"] = payload.get("timestamp")
    return RCMessage.parse(doc)


class OutgoingWebhookIntake:
    """An aiohttp handler; mount it with :meth:`add_routes` or call :meth:`handle`."""

    def __init__(self, token: str, sink: EventSink, path: str = "/rocketchat/webhook") -> None:
        self._token = token
        self.sink = sink
        self.path = path

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(token, self._token):
            log.warning("Rejected an outgoing webhook call with a wrong token")
            return web.json_response({"error": "invalid token"}, status=403)
        try:
            message = message_from_payload(payload)
        except KeyError:
            return web.json_response({"error": "missing fields"}, status=400)
        event = (
            MessageEdited(message, EventSource.WEBHOOK)
            if payload.get("isEdited")
            else MessagePosted(message, EventSource.WEBHOOK)
        )
        # Answer 200 only once the sink has the event; an error makes Rocket.Chat retry.
        await self.sink(event)
        # An empty body: a "text" answer would be posted back into the room (echo, §6).
        return web.json_response({})
