"""Answers from remote bridges: an ``org.rcbridge.erasure_ack`` in a notice DM room.

A Matrix inbox handler (registered in app.py next to the relay): the acknowledgement
is recorded in the same transaction that marks the event processed, so it is neither
lost nor counted twice.
"""

from __future__ import annotations

import logging

from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.notices import ACK_EVENT
from bridge.privacy.timeline import server_of
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

log = logging.getLogger(__name__)


class ErasureAckHandler:
    def __init__(self, engine: ErasureEngine) -> None:
        self._engine = engine

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        payload = event.payload
        if payload.get("type") != ACK_EVENT:
            return
        content = payload.get("content")
        sender = payload.get("sender")
        if not isinstance(content, dict) or not isinstance(sender, str) or ":" not in sender:
            return
        request_id = content.get("request_id")
        if not isinstance(request_id, str):
            return
        # Only the notified server can acknowledge for itself: the sender's server is
        # the recipient whose status changes (a row that does not exist changes nothing).
        if await self._engine.record_ack(uow, request_id, server_of(sender), sender):
            log.info("Erasure request %s acknowledged by %s", request_id, server_of(sender))
