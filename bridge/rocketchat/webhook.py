"""Outgoing-webhook intake, for servers that forbid the realtime API (rocketchat-api.md §6).

Rocket.Chat POSTs ``{token, channel_id, message_id, timestamp, user_id, user_name, text,
isEdited?, tmid?, alias?, bot}`` for each message (and again with ``isEdited`` when
``runOnEdits``). There is no outgoing event for deletions, so pair this with periodic
:class:`~bridge.rocketchat.catchup.CatchUp` runs.

Not served by the running bridge: the config refuses ``rocketchat.intake: webhook``
(``bridge/config/load.py``) until the payload's missing deletions and attachments are
made up for. This handler and its token check are kept, tested, for that work.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web

from bridge.rocketchat.events import EventSink, EventSource, MessageEdited, MessagePosted
from bridge.rocketchat.models import RCMessage
from bridge.rocketchat.validation import message_problem

log = logging.getLogger(__name__)


def payload_problem(payload: dict[str, Any]) -> str | None:
    """Why an outgoing-webhook payload is no message the bridge can take, or None."""
    for key in ("message_id", "channel_id"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            return f"missing fields: {key} must be a non-empty string"
    for key in ("text", "user_id", "user_name", "tmid", "alias"):
        if payload.get(key) is not None and not isinstance(payload[key], str):
            return f"{key} must be a string"
    try:
        message = message_from_payload(payload)
    except ValueError:
        return "timestamp is not a date"
    return message_problem(message.raw)


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
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return web.json_response({"error": "invalid JSON"}, status=400)
        token = payload.get("token") if isinstance(payload, dict) else None
        # Bytes, not str: compare_digest raises TypeError on non-ASCII strings.
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self._token.encode()
        ):
            log.warning("Rejected an outgoing webhook call with a wrong token")
            return web.json_response({"error": "invalid token"}, status=403)
        problem = payload_problem(payload)
        if problem is not None:
            log.warning("Refused an outgoing webhook call: %s", problem)
            return web.json_response({"error": problem}, status=400)
        message = message_from_payload(payload)
        event = (
            MessageEdited(message, EventSource.WEBHOOK)
            if payload.get("isEdited")
            else MessagePosted(message, EventSource.WEBHOOK)
        )
        # Answer 200 only once the sink has the event; an error makes Rocket.Chat retry.
        await self.sink(event)
        # An empty body: a "text" answer would be posted back into the room (echo, §6).
        return web.json_response({})
