"""Small helpers for bridging integration tests: read what each side shows."""

from __future__ import annotations

from typing import Any

from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.types import EventID, EventType, PaginationDirection, RoomID, UserID

from bridge.ids import RCRoomID
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser


class MatrixView:
    """A real client of one Matrix user, closed with the test."""

    def __init__(self, user: MatrixUser) -> None:
        self.user = user
        self.api = HTTPAPI(user.homeserver.client_url, user.access_token)
        self.client = ClientAPI(UserID(user.user_id), api=self.api)

    async def close(self) -> None:
        await self.api.session.close()

    async def timeline(self, room: RoomID, limit: int = 300) -> list[dict[str, Any]]:
        resp = await self.client.get_messages(room, PaginationDirection.BACKWARD, limit=limit)
        return [e.serialize() for e in reversed(resp.events)]

    async def messages(self, room: RoomID, sender_prefix: str = "@") -> list[dict[str, Any]]:
        return [
            e
            for e in await self.timeline(room)
            if e["type"] == "m.room.message" and e["sender"].startswith(sender_prefix)
        ]

    async def event(self, room: RoomID, event_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.api.request(
            "GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}"
        )
        return data

    async def send(
        self, room: RoomID, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> EventID:
        return await self.client.send_message_event(room, EventType.find(event_type), content)


async def rc_history(client: RCRestClient, room_id: str) -> list[RCMessage]:
    """Oldest first."""
    return list(reversed(await client.room_history("channels", RCRoomID(room_id), count=500)))
