"""Rocket.Chat events into the inbox: persisted before the connector's cursor moves on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.pipeline.stages import RELAY, rc_message
from bridge.rctypes.events import MessagePosted, RCEvent
from bridge.rocketchat.inbox_events import to_record
from bridge.storage.inbox import Inbox

log = logging.getLogger(__name__)

SOURCE = "rocketchat"


class RocketChatIntake:
    """The connector's event sink. Raising here makes the connector re-deliver later."""

    def __init__(self, inbox: Inbox, on_stored: Callable[[], None]) -> None:
        self._inbox = inbox
        self._on_stored = on_stored

    async def __call__(self, event: RCEvent) -> None:
        stored = await self._inbox.store_events(SOURCE, [to_record(event)])
        if isinstance(event, MessagePosted):
            RELAY.mark(rc_message(event.message.id), "stored")
        if stored:
            self._on_stored()
