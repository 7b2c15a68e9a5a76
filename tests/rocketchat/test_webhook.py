"""Outgoing-webhook intake (the alternative to the realtime API, §6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bridge.rocketchat.events import EventSource, MessageEdited, MessagePosted, RCEvent
from bridge.rocketchat.webhook import OutgoingWebhookIntake


@pytest.fixture
async def intake() -> AsyncIterator[tuple[str, list[RCEvent]]]:
    events: list[RCEvent] = []

    async def sink(event: RCEvent) -> None:
        events.append(event)

    app = web.Application()
    OutgoingWebhookIntake("s3cret", sink).add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/rocketchat/webhook", events
    await runner.cleanup()


PAYLOAD = {
    "token": "s3cret",
    "bot": False,
    "channel_id": "ROOM",
    "channel_name": "general",
    "message_id": "M1",
    "timestamp": "2024-05-01T10:00:00.000Z",
    "user_id": "U1",
    "user_name": "alice",
    "text": "hello",
    "siteUrl": "http://rc",
}


async def test_valid_token_delivers_posted_and_edited(
    intake: tuple[str, list[RCEvent]],
) -> None:
    url, events = intake
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=PAYLOAD) as resp:
            assert resp.status == 200
        async with session.post(url, json={**PAYLOAD, "isEdited": True, "text": "v2"}) as resp:
            assert resp.status == 200
    first, second = events
    assert isinstance(first, MessagePosted) and first.source is EventSource.WEBHOOK
    assert first.message.id == "M1" and first.message.room_id == "ROOM"
    assert first.message.user.username == "alice"
    assert isinstance(second, MessageEdited) and second.message.text == "v2"


async def test_wrong_or_missing_token_is_rejected(intake: tuple[str, list[RCEvent]]) -> None:
    url, events = intake
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={**PAYLOAD, "token": "nope"}) as resp:
            assert resp.status == 403
        no_token = {k: v for k, v in PAYLOAD.items() if k != "token"}
        async with session.post(url, json=no_token) as resp:
            assert resp.status == 403
    assert events == []
