"""Turns stored Matrix events into effects: outbox actions recorded in the same transaction."""

from __future__ import annotations

import logging

import attrs

from bridge.config import Config
from bridge.pipeline import keys
from bridge.pipeline.actions import action, new_action
from bridge.pipeline.contracts import SkipEvent
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

log = logging.getLogger(__name__)

JOIN_ROOM = "matrix.join_room"


@action(JOIN_ROOM)
@attrs.frozen
class JoinRoom:
    """The bot accepts an invitation to a room."""

    room_id: str


@attrs.frozen
class Joined:
    room_id: str


class MatrixEventHandler:
    def __init__(self, config: Config) -> None:
        self._bot = config.bot_mxid

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        payload = event.payload
        event_type = payload.get("type")
        room_id = payload.get("room_id")
        if not isinstance(event_type, str) or not isinstance(room_id, str):
            raise SkipEvent("event without a string type and room_id")
        if event_type == "m.room.member":
            await self._membership(uow, event, room_id)

    async def _membership(self, uow: UnitOfWork, event: StoredEvent, room_id: str) -> None:
        payload = event.payload
        content = payload.get("content")
        if payload.get("state_key") != self._bot or not isinstance(content, dict):
            return
        if content.get("membership") == "invite":
            # Accept invites like every mautrix bridge bot; the join itself is an outbound
            # action, so it is retried through outages and never lost in a crash.
            # Who invited is a person's id: an erasure cannot reach a log, so not at INFO.
            log.info("Bot invited to %s", room_id)
            log.debug("Bot invited to %s by %s", room_id, payload.get("sender"))
            await uow.enqueue(
                new_action(
                    JoinRoom(room_id),
                    key=keys.join_room_key(payload["event_id"]),  # validated: a string
                    queue=keys.matrix_room_queue(room_id),
                )
            )
