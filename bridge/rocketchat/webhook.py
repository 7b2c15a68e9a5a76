"""Outgoing-webhook intake (``rocketchat.intake: webhook``), for servers that forbid the
realtime API.

Rocket.Chat POSTs ``{token, bot, channel_id, channel_name, message_id, timestamp,
user_id, user_name, text, siteUrl, alias?, isEdited?, tmid?}`` for each new message of
the rooms the integration watches, and again with ``isEdited`` when ``runOnEdits``
(Rocket.Chat ``apps/meteor/app/integrations/server/lib/triggerHandler.ts``,
``mapEventArgsToData``). The payload names the message but carries neither its
attachments, files, mentions nor reactions, and there is no outgoing event for deletions.
So the payload is only a doorbell:

- its ``token`` is checked in constant time; a wrong one is refused (403, or 429 once the
  sender has failed too often) and reported to ``on_refused``, which audits it;
- a room the bridge does not follow (neither a portal nor a DM with its account) is
  answered 200 and its message is not even read;
- the message itself is read back from Rocket.Chat (``chat.getMessage``) with the
  bridge's own credentials, and that document, not the payload, goes to the inbox: a
  forged or altered payload cannot put words in anyone's mouth;
- deletions, prunes and anything a webhook call missed are found by the periodic
  catch-up that runs in webhook mode (``bridge/rocketchat/service.py``).

Rocket.Chat retries a call answered with an empty body or a status other than 200-202,
**except 500** (logged, never retried, triggerHandler.ts), so every failure here that a
retry could mend answers 503, and success answers ``{}``: a body with ``text`` would be
posted back into the room.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bridge.ids import RCMessageID
from bridge.metrics import RC_WEBHOOK_CALLS
from bridge.rctypes.events import EventSink, EventSource, MessagePosted, event_for_message
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.echoes import OwnEchoes
from bridge.rocketchat.errors import RCBadRequestError, RCError, RCNotFoundError, RCProtocolError

log = logging.getLogger(__name__)

PATH = "/_bridge/rocketchat/webhook"
# What a call came to, for the metric. A typed key: aiohttp warns on plain string keys,
# and the suite turns warnings into errors.
OUTCOME: web.ResponseKey[str] = web.ResponseKey("webhook.outcome")
MAX_BODY_BYTES = 64 * 1024
# Reads one message by id with the bridge's credentials (``chat.getMessage``).
FetchMessage = Callable[[RCMessageID], Awaitable[RCMessage]]
# Told about a refused token (the request and what was presented); True: throttled.
OnRefused = Callable[[web.Request, str], Awaitable[bool]]
# Whether the bridge reads a room at all (a portal or a DM with its account).
Follows = Callable[[str], Awaitable[bool]]


def payload_problem(payload: object) -> str | None:
    """Why an outgoing-webhook payload names no message, or None."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    for key in ("message_id", "channel_id"):
        value = payload.get(key)
        if not isinstance(value, str) or not value or len(value) > 128:
            return f"{key} must be a non-empty string"
    return None


class OutgoingWebhookIntake:
    def __init__(
        self,
        token: str,
        fetch: FetchMessage,
        sink: EventSink,
        *,
        on_refused: OnRefused | None = None,
        follows: Follows | None = None,
        echoes: OwnEchoes | None = None,
        path: str = PATH,
    ) -> None:
        self._token = _digest(token)
        self._fetch = fetch
        self._sink = sink
        self._on_refused = on_refused
        self._follows = follows
        self._echoes = echoes
        self.path = path
        self.stored = 0  # messages this intake put in the inbox
        self.ignored = 0  # calls about rooms the bridge does not follow

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        RC_WEBHOOK_CALLS.labels(response.get(OUTCOME, "other")).inc()
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        # A call is a few hundred bytes; nothing larger is read, before any token check.
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, f"the body is larger than {MAX_BODY_BYTES} bytes", "invalid")
        try:
            payload: Any = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return _answer(400, "invalid JSON", "invalid")
        token = payload.get("token") if isinstance(payload, dict) else None
        if not self._token_matches(token):
            return await self._refuse(request, token)
        problem = payload_problem(payload)
        if problem is not None:
            log.warning("Refused an outgoing webhook call: %s", problem)
            return _answer(400, problem, "invalid")
        return await self._take(RCMessageID(payload["message_id"]), payload["channel_id"])

    def _token_matches(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        # Digests: equal lengths, so not even a wrong token's length shows in the timing
        # (and compare_digest refuses non-ASCII str).
        return hmac.compare_digest(_digest(token), self._token)

    async def _refuse(self, request: web.Request, token: object) -> web.Response:
        log.warning("Rejected an outgoing webhook call with a wrong token")
        presented = token if isinstance(token, str) else ""
        throttled = self._on_refused is not None and await self._on_refused(request, presented)
        if throttled:
            return _answer(429, "too many failed attempts", "refused")
        return _answer(403, "invalid token", "refused")

    async def _take(self, message_id: RCMessageID, channel_id: str) -> web.Response:
        try:
            if self._follows is not None and not await self._follows(channel_id):
                self.ignored += 1
                return _ok("ignored")  # a room the bridge does not read
            message = await self._fetch(message_id)
        except (RCNotFoundError, RCBadRequestError):
            # Gone already: Rocket.Chat answers a message it cannot find with a bare 400
            # failure (apps/meteor/app/api/server/v1/chat.ts, chat.getMessage). The
            # catch-up reports its deletion; nothing here to bridge.
            return _ok("gone")
        except (RCProtocolError, KeyError, TypeError, ValueError, AttributeError) as e:
            # What cannot become a message at all is dropped, as the realtime intake does.
            log.warning("Rocket.Chat answered chat.getMessage with no usable message: %r", e)
            return _ok("unusable")
        except RCError as e:
            log.warning("Cannot read a webhook's message back from Rocket.Chat: %s", e)
            return _answer(503, "Rocket.Chat is unavailable; retry later", "unavailable")
        if message.room_id != channel_id:
            return _answer(400, "channel_id does not match the message", "invalid")
        event = event_for_message(message, EventSource.WEBHOOK)
        if (
            self._echoes is not None
            and isinstance(event, MessagePosted)
            and self._echoes.is_plain_echo(message)
        ):
            return _ok("echo")  # the bridge's own post (echoes.py)
        try:
            # Answer 200 only once the inbox has the event.
            await self._sink(event)
        except Exception:  # the HTTP boundary: Rocket.Chat retries a 503
            log.exception("Could not store a webhook's message")
            return _answer(503, "could not store the message; retry later", "unavailable")
        self.stored += 1
        return _ok("stored")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _ok(outcome: str) -> web.Response:
    response = web.json_response({})
    response[OUTCOME] = outcome
    return response


def _answer(status: int, error: str, outcome: str) -> web.Response:
    response = web.json_response({"error": error}, status=status)
    response[OUTCOME] = outcome
    return response
