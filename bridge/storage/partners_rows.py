"""Rows of the partner register: the remote homeservers the organisation shares with, on
what terms (docs/partners.md).

``partner_register_state`` is one row holding the register's version, bumped by every
change; each disclosure stores the version in force when it was recorded, so what was
agreed with a recipient at the time of a transfer can be told later (GDPR Art. 5(2)).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.models import Base

STATE_ID = 1


class PartnerRow(Base):
    """One remote server and the terms it receives personal data on."""

    __tablename__ = "partner"

    server: Mapped[str] = mapped_column(String(255), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(255))
    # JSON list of {"matrix_id": ...} / {"email": ...}: who erasure notices go to.
    contacts: Mapped[str] = mapped_column(Text)
    lawful_basis: Mapped[str] = mapped_column(String(32))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    jurisdiction: Mapped[str | None] = mapped_column(String(2))
    third_country: Mapped[bool] = mapped_column(Boolean)
    safeguard: Mapped[str | None] = mapped_column(String(255))
    agreement_ref: Mapped[str | None] = mapped_column(String(255))
    agreement_version: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(16))
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    # The register version this entry was last changed in.
    version: Mapped[int] = mapped_column(Integer)
    # Its admins run an erasure receiver: erasure requests wait for its answer.
    receiver: Mapped[bool] = mapped_column(Boolean, server_default="0")


class PartnerRegisterState(Base):
    """The register's version: one row (``id`` = 1), created by the migration."""

    __tablename__ = "partner_register_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
