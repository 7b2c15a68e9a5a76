"""Each portal room's retention policy as the bridge last read it from Rocket.Chat.

Written by the retention worker every round (docs/retention.md), read by the dashboard's
retention page; names rooms, never people.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base


class RoomRetentionRow(Base):
    __tablename__ = "room_retention"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    rc_room_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    # None: no policy applies (Rocket.Chat keeps the room's messages).
    max_age_ms: Mapped[int | None] = mapped_column(BigInteger)
    files_only: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str | None] = mapped_column(String(16))  # "room" or "global"
    read_ms: Mapped[int] = mapped_column(BigInteger)
