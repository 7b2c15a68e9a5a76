"""Outgoing-webhook intake against the simulator's outgoing webhooks: the token is checked,
the message is read back from Rocket.Chat (never taken from the payload), failures are
answered so that Rocket.Chat retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from bridge.ids import RCMessageID, RCRoomID
from bridge.metrics import REGISTRY
from bridge.rctypes.events import EventSource, MessageEdited, MessagePosted, RCEvent
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.errors import RCConnectionError
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.webhook import MAX_BODY_BYTES, PATH, OutgoingWebhookIntake
from bridge.sandbox.rocketchat.app import SimulatorServer
from tests.fixtures.rocketchat import create_outgoing_webhook

TOKEN = "webhook-token-for-tests-0123456789"  # noqa: S105
T = TypeVar("T")


@dataclass
class Receiver:
    url: str
    events: list[RCEvent] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fetch_failures: int = 0  # fail this many chat.getMessage reads first


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 10) -> T:
    """Poll until ``probe`` returns something truthy (a deadline, not a timing claim)."""
    async with asyncio.timeout(timeout):
        while not (value := await probe()):
            await asyncio.sleep(0.02)
    return value


@pytest.fixture
async def receiver(rc_bot: RCRestClient) -> AsyncIterator[Receiver]:
    """The bridge's webhook endpoint on a loopback port, reading back with the bot."""
    holder: list[Receiver] = []

    async def sink(event: RCEvent) -> None:
        holder[0].events.append(event)

    async def fetch(message_id: RCMessageID) -> RCMessage:
        if holder[0].fetch_failures:
            holder[0].fetch_failures -= 1
            raise RCConnectionError("Rocket.Chat went away")
        return await rc_bot.get_message(message_id)

    async def refused(_request: web.Request, presented: str) -> bool:
        holder[0].refused.append(presented)
        return False

    app = web.Application()
    OutgoingWebhookIntake(TOKEN, fetch, sink, on_refused=refused).add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    holder.append(Receiver(f"http://127.0.0.1:{port}{PATH}"))
    yield holder[0]
    await runner.cleanup()


async def _channel(admin: RCRestClient, member: RCRestClient) -> RCRoomID:
    name = (await member.me()).username
    room = await admin.room_create("channels", "webhooked", [name])
    return room.id


async def test_a_message_sent_in_rocketchat_arrives_through_the_webhook(
    rc_admin: RCRestClient, rc_user: RCRestClient, receiver: Receiver
) -> None:
    await create_outgoing_webhook(rc_admin, receiver.url, TOKEN)
    room = await _channel(rc_admin, rc_user)
    sent = await rc_user.post_message(room, "hello over the webhook")
    first = await eventually(lambda: _async(receiver.events))
    assert isinstance(first[0], MessagePosted) and first[0].source is EventSource.WEBHOOK
    assert (first[0].message.id, first[0].message.room_id) == (sent.id, room)
    assert first[0].message.text == "hello over the webhook"
    await rc_user.update_message(room, sent.id, "edited over the webhook")
    events = await eventually(lambda: _async(receiver.events[1:]))
    assert isinstance(events[0], MessageEdited) and events[0].message.text.startswith("edited")
    assert receiver.refused == []


async def test_the_message_is_read_back_not_taken_from_the_payload(
    rc_admin: RCRestClient, rc_user: RCRestClient, receiver: Receiver
) -> None:
    room = await _channel(rc_admin, rc_user)
    sent = await rc_user.post_message(room, "what alice really wrote")
    before = {o: calls(o) for o in ("stored", "invalid", "gone")}
    forged = {
        "token": TOKEN,
        "channel_id": room,
        "message_id": sent.id,
        "user_id": "someone-else",
        "user_name": "admin",
        "text": "words put in alice's mouth",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(receiver.url, json=forged) as resp:
            assert (resp.status, await resp.json()) == (200, {})
        async with http.post(receiver.url, json={**forged, "channel_id": "OTHER"}) as resp:
            assert resp.status == 400
        async with http.post(receiver.url, json={**forged, "message_id": "nope"}) as resp:
            assert resp.status == 200  # gone (or never was): the catch-up settles it
    (event,) = receiver.events
    assert event.message.text == "what alice really wrote"  # type: ignore[union-attr]
    # Operators see what the calls came to.
    assert {o: calls(o) - n for o, n in before.items()} == {"stored": 1, "invalid": 1, "gone": 1}
    assert event.message.user.username == (await rc_user.me()).username  # type: ignore[union-attr]


@pytest.mark.parametrize("token", ["wrong-token-0123456789abcdef", None, 42, "wrong-ü"])
async def test_a_wrong_token_is_refused_and_reported(
    rc_admin: RCRestClient, rc_user: RCRestClient, receiver: Receiver, token: Any
) -> None:
    room = await _channel(rc_admin, rc_user)
    sent = await rc_user.post_message(room, "hi")
    body = {"channel_id": room, "message_id": sent.id}
    if token is not None:
        body["token"] = token
    async with aiohttp.ClientSession() as http, http.post(receiver.url, json=body) as resp:
        assert resp.status == 403
    assert receiver.events == []
    assert receiver.refused == [token if isinstance(token, str) else ""]


async def test_a_failed_read_back_answers_503_and_rocketchat_retries(
    rc_admin: RCRestClient, rc_user: RCRestClient, receiver: Receiver
) -> None:
    # Rocket.Chat retries anything but 2xx-with-a-body and 500 (triggerHandler.ts).
    await create_outgoing_webhook(rc_admin, receiver.url, TOKEN)
    receiver.fetch_failures = 2
    room = await _channel(rc_admin, rc_user)
    sent = await rc_user.post_message(room, "arrives on the third call")
    (event,) = await eventually(lambda: _async(receiver.events))
    assert event.message.id == sent.id  # type: ignore[union-attr]
    assert receiver.fetch_failures == 0


async def test_the_simulator_sends_rocketchats_payload(
    rc_sim: SimulatorServer, rc_admin: RCRestClient, rc_user: RCRestClient
) -> None:
    """What the bridge relies on in the payload: the fields triggerHandler.ts sends."""
    bodies: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        await create_outgoing_webhook(rc_admin, url, TOKEN)
        room = await _channel(rc_admin, rc_user)
        sent = await rc_user.post_message(room, "shape")
        (body,) = await eventually(lambda: _async(bodies))
    finally:
        await runner.cleanup()
    assert body["token"] == TOKEN and body["bot"] is False
    assert (body["channel_id"], body["channel_name"]) == (room, "webhooked")
    assert (body["message_id"], body["text"]) == (sent.id, "shape")
    assert body["user_name"] == (await rc_user.me()).username
    assert "attachments" not in body and "isEdited" not in body


def calls(outcome: str) -> float:
    value = REGISTRY.get_sample_value("bridge_rocketchat_webhook_calls_total", {"outcome": outcome})
    return value or 0.0


async def _async(value: list[T]) -> list[T] | None:
    return list(value) or None


async def test_a_huge_body_is_refused_before_anything_else(receiver: Receiver) -> None:
    body = b'{"token": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    async with aiohttp.ClientSession() as http, http.post(receiver.url, data=body) as resp:
        assert resp.status == 413
    assert receiver.events == [] and receiver.refused == []
