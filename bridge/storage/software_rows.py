"""What software each remote homeserver runs, as its federation version endpoint says.

Kept to tell when a redacted copy is expected to be purged there (docs/retention.md). It
names servers, never people.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base


class ServerSoftwareRow(Base):
    __tablename__ = "server_software"

    server: Mapped[str] = mapped_column(String(255), primary_key=True)
    # ``server.name`` and ``server.version`` of GET /_matrix/federation/v1/version.
    software: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    # The first and the latest answer; the latest attempt, and why it failed if it did.
    first_seen_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int | None] = mapped_column(BigInteger)
    checked_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    error: Mapped[str | None] = mapped_column(Text)
