"""The partner register: who the organisation shares with, and on what terms.

A change is validated whole, stored, bumps the register's version and is appended to the
audit chain in one transaction, so a refused change leaves nothing behind and an accepted
one is never unrecorded. Disclosures store the version in force (``bridge.storage.ledger``).
docs/partners.md describes the fields and their use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.privacy.audit import AuditLog, Details, DetailValue
from bridge.privacy.partner_values import (
    Contact,
    Partner,
    PartnerError,
    check_jurisdiction,
    check_lawful_basis,
    check_partner,
    check_policy,
    check_retention,
    check_server_name,
    check_text,
    contacts_from_json,
    contacts_json,
)
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.partners import PartnerRecord

PARTNER_SET = "partner.set"
PARTNER_REMOVED = "partner.removed"
# A read that showed partners' contacts (their staff's Matrix ids and addresses).
PARTNER_CONTACTS_READ = "partner.contacts_read"


@dataclass(frozen=True)
class PartnerChanges:
    """What ``set`` changes; None leaves a field as it is, "" clears an optional text."""

    organisation: str | None = None
    contacts: tuple[Contact, ...] | None = None
    lawful_basis: str | None = None
    retention_days: int | None = None
    clear_retention: bool = False
    jurisdiction: str | None = None
    third_country: bool | None = None
    safeguard: str | None = None
    agreement_ref: str | None = None
    agreement_version: str | None = None
    policy: str | None = None
    receiver: bool | None = None


def _from_record(r: PartnerRecord) -> Partner:
    return Partner(
        r.server,
        r.organisation,
        contacts_from_json(r.contacts),
        check_lawful_basis(r.lawful_basis),
        r.retention_days,
        r.jurisdiction,
        r.third_country,
        r.safeguard,
        r.agreement_ref,
        r.agreement_version,
        check_policy(r.policy),
        r.updated_ms,
        r.version,
        receiver=r.receiver,
    )


def _to_record(p: Partner) -> PartnerRecord:
    return PartnerRecord(
        p.server,
        p.organisation,
        contacts_json(p.contacts),
        p.lawful_basis,
        p.retention_days,
        p.jurisdiction,
        p.third_country,
        p.safeguard,
        p.agreement_ref,
        p.agreement_version,
        p.policy,
        p.updated_ms,
        p.version,
        p.receiver,
    )


def _merge(server: str, old: Partner | None, c: PartnerChanges) -> Partner:
    if old is None:
        if c.organisation is None or c.lawful_basis is None:
            raise PartnerError(
                f"{server} is not in the register yet: a new entry needs --organisation"
                " and --lawful-basis"
            )
        old = Partner(server, "", (), "public_task", None, None, False, None, None, None, "allow")
    new = dataclasses.replace(
        old,
        organisation=_organisation(old, c),
        contacts=old.contacts if c.contacts is None else tuple(dict.fromkeys(c.contacts)),
        lawful_basis=old.lawful_basis
        if c.lawful_basis is None
        else check_lawful_basis(c.lawful_basis),
        retention_days=None
        if c.clear_retention
        else (old.retention_days if c.retention_days is None else c.retention_days),
        jurisdiction=old.jurisdiction
        if c.jurisdiction is None
        else check_jurisdiction(c.jurisdiction or None),
        third_country=old.third_country if c.third_country is None else c.third_country,
        policy=old.policy if c.policy is None else check_policy(c.policy),
        receiver=old.receiver if c.receiver is None else c.receiver,
        safeguard=_optional_text("safeguard", old.safeguard, c.safeguard),
        agreement_ref=_optional_text("agreement", old.agreement_ref, c.agreement_ref),
        agreement_version=_optional_text(
            "agreement version", old.agreement_version, c.agreement_version, 64
        ),
    )
    check_retention(new.retention_days)
    return check_partner(new)


def _optional_text(field: str, old: str | None, new: str | None, limit: int = 255) -> str | None:
    if new is None:
        return old
    return check_text(field, new, limit) if new.strip() else None


def _organisation(old: Partner, c: PartnerChanges) -> str:
    if c.organisation is None:
        return old.organisation
    return check_text("organisation", c.organisation) or old.organisation


def _changed(old: Partner | None, new: Partner) -> list[str]:
    skip = {"updated_ms", "version"}
    names = [f.name for f in dataclasses.fields(Partner) if f.name not in skip]
    if old is None:
        return [n for n in names if n != "server"]
    return [n for n in names if getattr(old, n) != getattr(new, n)]


class PartnerRegister:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[Partner]:
        async with self._db.unit_of_work() as uow:
            return [_from_record(r) for r in await uow.partners.all()]

    async def get(self, server: str) -> Partner | None:
        async with self._db.unit_of_work() as uow:
            return await get_partner(uow, server)

    async def version(self) -> int:
        async with self._db.unit_of_work() as uow:
            return await uow.partners.version()

    async def read_all(self, actor: str, via: str) -> tuple[int, list[Partner]]:
        """The register version and every entry, contacts included, for showing to
        ``actor``; the read is on record when it shows any contact."""
        async with self._db.unit_of_work() as uow:
            partners = [_from_record(r) for r in await uow.partners.all()]
            await _record_read(uow, partners, actor, via)
            return await uow.partners.version(), partners

    async def read(self, server: str, actor: str, via: str) -> Partner | None:
        """One entry, contacts included, for showing to ``actor`` (on record as above)."""
        async with self._db.unit_of_work() as uow:
            partner = await get_partner(uow, server)
            if partner is not None:
                await _record_read(uow, [partner], actor, via)
            return partner

    async def set(self, server: str, changes: PartnerChanges, actor: str) -> tuple[Partner, bool]:
        """The entry after the change, and whether anything changed (no change: no new
        version, no audit entry). :class:`PartnerError` if the result is not valid."""
        async with self._db.unit_of_work() as uow:
            return await set_partner(uow, server, changes, actor)

    async def remove(self, server: str, actor: str) -> Partner | None:
        """The entry removed, or None if there was none (nothing recorded then)."""
        async with self._db.unit_of_work() as uow:
            old = await get_partner(uow, server)
            if old is None:
                return None
            await uow.partners.remove(server)
            version = await uow.partners.bump_version()
            details: Details = {"server": server, "register_version": version, "policy": old.policy}
            await AuditLog.append(uow, PARTNER_REMOVED, actor, None, details)
            return old


async def _record_read(uow: UnitOfWork, shown: list[Partner], actor: str, via: str) -> None:
    """A partner's contacts are its staff's personal data: who was shown them, where,
    and how many, is written to the audit chain with the read (the contacts never are)."""
    with_contacts = [p for p in shown if p.contacts]
    if not with_contacts:
        return
    details: dict[str, DetailValue] = {
        "via": via,
        "servers": len(with_contacts),
        "contacts": sum(len(p.contacts) for p in with_contacts),
    }
    if len(shown) == 1:
        details["server"] = shown[0].server
    await AuditLog.append(uow, PARTNER_CONTACTS_READ, actor, None, details)


async def set_partner(
    uow: UnitOfWork, server: str, changes: PartnerChanges, actor: str
) -> tuple[Partner, bool]:
    """``PartnerRegister.set`` inside the caller's transaction. Everything is checked
    before anything is written, so a :class:`PartnerError` leaves ``uow`` untouched."""
    check_server_name(server)
    old = await get_partner(uow, server)
    new = _merge(server, old, changes)
    changed = _changed(old, new)
    if not changed:
        assert old is not None
        return old, False
    version = await uow.partners.bump_version()
    new = dataclasses.replace(new, updated_ms=now_ms(), version=version)
    await uow.partners.put(_to_record(new))
    details: dict[str, DetailValue] = {
        "server": server,
        "register_version": version,
        "created": old is None,
        "fields": changed,
        "policy": new.policy,
        "previous_policy": None if old is None else old.policy,
    }
    if new.policy == "deny" and (old is None or old.policy != "deny"):
        # Imported here: the gate imports this module for get_partner.
        from bridge.privacy.partner_gate import enqueue_enforcement  # noqa: PLC0415

        details["rooms_enforced"] = await enqueue_enforcement(uow, server, version)
    await AuditLog.append(uow, PARTNER_SET, actor, None, details)
    return new, True


async def get_partner(uow: UnitOfWork, server: str) -> Partner | None:
    record = await uow.partners.get(server)
    return None if record is None else _from_record(record)


def contacts_of(
    db: Database,
) -> Callable[[str], Awaitable[tuple[tuple[str, ...], tuple[str, ...]]]]:
    """The register's contacts of a server as (Matrix ids, e-mail addresses), for
    ``bridge.privacy.notices.SupportLookup``: the register comes before MSC1929."""

    async def lookup(server: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        partner = await PartnerRegister(db).get(server)
        if partner is None:
            return (), ()
        users = tuple(c.matrix_id for c in partner.contacts if c.matrix_id)
        emails = tuple(c.email for c in partner.contacts if c.email)
        return users, emails

    return lookup
