"""Turns stored Matrix events into effects: outbox actions recorded in the same transaction."""

from __future__ import annotations

import logging

import attrs
from mautrix.types import Event, Membership, MemberStateEventContent, StateEvent

from bridge.config import Config
from bridge.pipeline import keys
from bridge.pipeline.actions import action, new_action
from bridge.pipeline.contracts import Inbound
from bridge.storage.database import UnitOfWork

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

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        if isinstance(event, StateEvent) and isinstance(event.content, MemberStateEventContent):
            await self._membership(uow, event, event.content)

    async def _membership(
        self, uow: UnitOfWork, event: StateEvent, content: MemberStateEventContent
    ) -> None:
        if event.state_key != self._bot or content.membership != Membership.INVITE:
            return
        # Accept invites like every mautrix bridge bot; the join itself is an outbound
        # action, so it is retried through outages and never lost in a crash.
        # Who invited is a person's id: an erasure cannot reach a log, so not at INFO.
        log.info("Bot invited to %s", event.room_id)
        log.debug("Bot invited to %s by %s", event.room_id, event.sender)
        await uow.enqueue(
            new_action(
                JoinRoom(event.room_id),
                key=keys.join_room_key(event.event_id),
                queue=keys.matrix_room_queue(event.room_id),
            )
        )
