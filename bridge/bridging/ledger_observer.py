"""Feeds the disclosure ledger's room timelines from the appservice event stream.

Every membership and history-visibility change in a portal room decides who can read what
was bridged there (docs/architecture.md), whoever sent it: remote users, the bridge's own ghosts
and the bot alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mautrix.types import Event, EventType, MemberStateEventContent, StateEvent

from bridge.ids import RoomID, UserID
from bridge.pipeline.contracts import Inbound
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import UnitOfWork

# Called in the same transaction when a server's first user joins a portal room.
# (uow, room id, server, the join event's id)
ServerJoined = Callable[[UnitOfWork, str, str, str], Awaitable[None]]


class LedgerObserver:
    def __init__(
        self, ledger: DisclosureLedger, on_server_joined: ServerJoined | None = None
    ) -> None:
        self._ledger = ledger
        self._on_server_joined = on_server_joined

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        if not isinstance(event, StateEvent):
            return
        if isinstance(event.content, MemberStateEventContent):
            if await uow.bridging.portal_by_matrix(event.room_id) is not None:
                await self._membership(uow, event, event.content)
        elif event.type == EventType.ROOM_HISTORY_VISIBILITY:
            # mautrix keeps this content untyped (Obj); the validator made it a string.
            visibility = event.content.serialize().get("history_visibility")
            if isinstance(visibility, str):
                if await uow.bridging.portal_by_matrix(event.room_id) is not None:
                    await self._ledger.observe_visibility(
                        uow, RoomID(event.room_id), visibility, event.timestamp
                    )

    async def _membership(
        self, uow: UnitOfWork, event: StateEvent, content: MemberStateEventContent
    ) -> None:
        user_id = event.state_key
        if not user_id.startswith("@") or ":" not in user_id:
            return
        joined = await self._ledger.observe_membership(
            uow, RoomID(event.room_id), UserID(user_id), content.membership.value, event.timestamp
        )
        if joined and self._on_server_joined is not None:
            server = user_id.split(":", 1)[1]
            await self._on_server_joined(uow, event.room_id, server, event.event_id)
