"""Who sent a command, from where, and how to answer them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bridge.pipeline import keys, kinds
from bridge.storage.database import UnitOfWork

Side = Literal["matrix", "rocketchat"]


@dataclass(frozen=True)
class CommandContext:
    side: Side
    sender: str  # Matrix user id, or Rocket.Chat user id
    sender_name: str  # Matrix user id, or Rocket.Chat username
    room_id: str  # where the command was typed (a Matrix room or Rocket.Chat room id)
    event_id: str  # the command's own id: replies are keyed on it, so a retry answers once
    is_direct: bool  # a DM with the bridge bot
    in_portal: bool = False  # a bridged room: other agencies' servers read the answer

    @property
    def person(self) -> str:
        """The sender as one key across both sides (``matrix:@a:hs``, ``rocketchat:<id>``)."""
        return f"{self.side}:{self.sender}"

    async def reply(self, uow: UnitOfWork, text: str, *, n: int = 0) -> None:
        """Answer in the room the command came from, through the outbox (retried, once)."""
        await uow.enqueue(
            kinds.notice(self.side, keys.reply_key(self.event_id, n), self.room_id, text)
        )
