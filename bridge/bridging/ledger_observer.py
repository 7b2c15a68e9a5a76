"""Feeds the disclosure ledger's room timelines from the appservice event stream.

Every membership and history-visibility change in a portal room decides who can read what
was bridged there (docs/architecture.md), whoever sent it: remote users, the bridge's own ghosts
and the bot alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bridge.ids import RoomID, UserID
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

# Called in the same transaction when a server's first user joins a portal room.
# (uow, room id, server, the join event's id)
ServerJoined = Callable[[UnitOfWork, str, str, str], Awaitable[None]]


class LedgerObserver:
    def __init__(
        self, ledger: DisclosureLedger, on_server_joined: ServerJoined | None = None
    ) -> None:
        self._ledger = ledger
        self._on_server_joined = on_server_joined

    async def __call__(self, uow: UnitOfWork, stored: StoredEvent) -> None:
        event = stored.payload
        event_type = event.get("type")
        if event_type not in ("m.room.member", "m.room.history_visibility"):
            return
        room_id, content, ts = (
            event.get("room_id"),
            event.get("content"),
            event.get("origin_server_ts"),
        )
        if not isinstance(room_id, str) or not isinstance(content, dict) or not isinstance(ts, int):
            return
        if await uow.bridging.portal_by_matrix(room_id) is None:
            return
        if event_type == "m.room.member":
            user_id, membership = event.get("state_key"), content.get("membership")
            if isinstance(user_id, str) and user_id.startswith("@") and isinstance(membership, str):
                joined = await self._ledger.observe_membership(
                    uow, RoomID(room_id), UserID(user_id), membership, ts
                )
                if joined and self._on_server_joined is not None:
                    server = user_id.split(":", 1)[1]
                    event_id = str(event.get("event_id") or f"{user_id}:{ts}")
                    await self._on_server_joined(uow, room_id, server, event_id)
        elif isinstance(visibility := content.get("history_visibility"), str):
            await self._ledger.observe_visibility(uow, RoomID(room_id), visibility, ts)
