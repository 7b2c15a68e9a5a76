"""Outgoing webhooks: ``integrations.create``/``list``/``remove`` and their delivery.

Delivery follows Rocket.Chat ``apps/meteor/app/integrations/server/lib/triggerHandler.ts``
for the ``sendMessage`` event:

- which rooms an integration watches: ``all_public_channels`` (also when ``channel`` is
  empty), ``all_private_groups``, ``all_direct_messages``, ``#<room id or name>``, or
  ``@<user id or username>`` for direct messages with that user; a comma list of these;
- an edited message is sent again (``isEdited: true``) only with ``runOnEdits``; trigger
  words must start the text unless ``triggerWordAnywhere``;
- the JSON body is ``mapEventArgsToData``'s: ``token``, ``bot``, ``channel_id``,
  ``channel_name``, ``message_id``, ``timestamp``, ``user_id``, ``user_name``, ``text``,
  ``siteUrl`` and, when set, ``alias``, ``isEdited``, ``tmid``; no attachments or files;
- 200/201/202 with a body is success. A 500 with a body is logged and never retried, a
  410 with a body disables the integration; anything else (an empty body, other codes,
  no connection) is retried ``retryCount`` times when ``retryFailedCalls``, waiting as
  ``retryDelay`` says.

Reactions, thread counters and deletions change a message without running the trigger
(deletions have no outgoing event at all), so only a new message id or a new ``editedAt``
is delivered. System messages are not delivered. An answer's ``text`` is not posted back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bridge.sandbox.rocketchat.access import authed, json_body, require_permission
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import invalid_params, success
from bridge.sandbox.rocketchat.state import Doc, SimRoom, SimState, iso, random_id

log = logging.getLogger(__name__)

SUCCESS = (200, 201, 202)
DELAYS = ("powers-of-ten", "powers-of-two", "increments-of-two")


def retry_delay_s(kind: str, tries: int) -> float:
    """triggerHandler.ts: 0.1 s, 1 s, 10 s…; 2 s, 4 s, 8 s…; 2 s, 4 s, 6 s…"""
    if kind == "powers-of-ten":
        return float(10 ** (tries + 2)) / 1000
    if kind == "powers-of-two":
        return float(2 ** (tries + 1))
    return float((tries + 1) * 2)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "manage-outgoing-integrations")
    body = await json_body(request)
    if body.get("type") != "webhook-outgoing":
        raise invalid_params("the simulator serves outgoing integrations only")
    urls = body.get("urls")
    if body.get("event") != "sendMessage" or not isinstance(urls, list) or not urls:
        raise invalid_params("must have required property 'event' sendMessage and 'urls'")
    retry_delay = body.get("retryDelay", "powers-of-ten")
    if retry_delay not in DELAYS:
        raise invalid_params(f"retryDelay must be one of {', '.join(DELAYS)}")
    integration: Doc = {
        "_id": random_id(),
        "type": "webhook-outgoing",
        "name": str(body.get("name") or ""),
        "enabled": bool(body.get("enabled", True)),
        "event": "sendMessage",
        "urls": [str(u) for u in urls],
        "channel": [c.strip() for c in str(body.get("channel") or "").split(",") if c.strip()],
        "username": str(body.get("username") or user.username),
        "token": str(body.get("token") or random_id(24)),
        "triggerWords": [w.strip() for w in str(body.get("triggerWords") or "").split(",")],
        "triggerWordAnywhere": bool(body.get("triggerWordAnywhere", False)),
        "runOnEdits": bool(body.get("runOnEdits", True)),
        "retryFailedCalls": bool(body.get("retryFailedCalls", True)),
        "retryCount": int(body.get("retryCount", 6)),
        "retryDelay": retry_delay,
        "scriptEnabled": bool(body.get("scriptEnabled", False)),
        "scriptEngine": "isolated-vm",
        "userId": user.id,
        "_createdAt": iso(state.now_ms()),
        "_createdBy": {"_id": user.id, "username": user.username},
    }
    integration["triggerWords"] = [w for w in integration["triggerWords"] if w]
    state.integrations[integration["_id"]] = integration
    return success({"integration": integration})


async def list_(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "manage-outgoing-integrations")
    items = list(state.integrations.values())
    return success({"integrations": items, "offset": 0, "items": len(items), "total": len(items)})


async def remove(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    require_permission(state, user, "manage-outgoing-integrations")
    body = await json_body(request)
    integration = state.integrations.pop(str(body.get("integrationId")), None)
    if integration is None:
        raise invalid_params("No integration found.")
    return success({"integration": integration})


def _watched(integration: Doc, state: SimState, room: SimRoom, sender_id: str) -> bool:
    channels = integration["channel"] or ["all_public_channels"]
    if room.t == "d":
        others = [state.users[m] for m in room.members if m != sender_id and m in state.users]
        names = {f"@{u.id}" for u in others} | {f"@{u.username}" for u in others}
        return "all_direct_messages" in channels or bool(names & set(channels))
    everyone = "all_public_channels" if room.t == "c" else "all_private_groups"
    return everyone in channels or f"#{room.id}" in channels or f"#{room.name}" in channels


def _trigger_word(integration: Doc, text: str) -> bool:
    words = integration["triggerWords"]
    if not words:
        return True
    if integration["triggerWordAnywhere"]:
        return any(w in text for w in words)
    return any(text.startswith(w) for w in words)


def payload(integration: Doc, state: SimState, room: SimRoom, doc: Doc) -> Doc:
    data: Doc = {
        "token": integration["token"],
        "bot": bool(doc.get("bot")),
        "channel_id": room.id,
        "channel_name": room.name,
        "message_id": doc["_id"],
        "timestamp": iso(doc["ts"]),
        "user_id": doc["u"]["_id"],
        "user_name": doc["u"]["username"],
        "text": doc.get("msg", ""),
        "siteUrl": state.settings.get("Site_Url", ""),
    }
    for key in ("alias", "tmid"):
        if doc.get(key):
            data[key] = doc[key]
    if doc.get("editedAt"):
        data["isEdited"] = True
    return data


class Dispatcher:
    """Listens to the simulator's changes and POSTs each new or edited message."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def on_change(self, kind: str, doc: Doc) -> None:
        if kind != "message" or doc.get("t") or not self.state.integrations:
            return
        # A new message was last updated when it was posted, an edit when it was edited;
        # anything else (a reaction, a thread counter) runs no sendMessage trigger.
        first = doc["_updatedAt"] == doc["ts"] and not doc.get("editedAt")
        if not first and doc.get("editedAt") != doc["_updatedAt"]:
            return
        room = self.state.rooms.get(doc["rid"])
        if room is None:
            return
        for integration in list(self.state.integrations.values()):
            if not integration["enabled"] or not _watched(
                integration, self.state, room, doc["u"]["_id"]
            ):
                continue
            if (not first and not integration["runOnEdits"]) or not _trigger_word(
                integration, str(doc.get("msg", ""))
            ):
                continue
            data = payload(integration, self.state, room, doc)
            for url in integration["urls"]:
                self._spawn(self._deliver(integration, url, data, 0))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, integration: Doc, url: str, data: Doc, tries: int) -> None:
        if not integration["enabled"] or integration["_id"] not in self.state.integrations:
            return
        status, content = 0, ""
        try:
            async with (
                ClientSession(timeout=ClientTimeout(total=30)) as http,
                http.post(url, json=data) as resp,
            ):
                status, content = resp.status, await resp.text()
        except (ClientError, TimeoutError) as e:
            log.info("Outgoing webhook %s to %s failed: %s", integration["name"], url, e)
        if content and status in SUCCESS:
            return
        if content and status == 500:
            return  # logged as an error by the server, not retried
        if content and status == 410:
            integration["enabled"] = False
            return
        if integration["retryFailedCalls"] and tries < integration["retryCount"]:
            await asyncio.sleep(retry_delay_s(integration["retryDelay"], tries))
            await self._deliver(integration, url, data, tries + 1)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/integrations.create", create)
    app.router.add_get("/api/v1/integrations.list", list_)
    app.router.add_post("/api/v1/integrations.remove", remove)
    dispatcher = Dispatcher(app[STATE_KEY])

    async def on_startup(_: web.Application) -> None:
        app[STATE_KEY].listeners.append(dispatcher.on_change)

    async def on_shutdown(_: web.Application) -> None:
        if dispatcher.on_change in app[STATE_KEY].listeners:
            app[STATE_KEY].listeners.remove(dispatcher.on_change)
        await dispatcher.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
