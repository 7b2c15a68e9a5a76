"""Carrying out an incident response: the notices, requests, deny and audit entries
(``bridge incident open``; docs/partners.md). The content lives in
``bridge.privacy.incident``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import attrs

from bridge.pipeline import keys
from bridge.pipeline.actions import Queued, action, new_action
from bridge.privacy import pseudonyms
from bridge.privacy.audit import AuditLog
from bridge.privacy.incident import (
    Affected,
    IncidentReport,
    Measures,
    Scope,
    incident_scope,
    person_notice,
    report,
)
from bridge.privacy.mail import mail_action
from bridge.privacy.notices import Contacts, SupportLookup
from bridge.privacy.partner_gate import enforce_action
from bridge.privacy.partners import PartnerChanges, PartnerRegister, set_partner
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.incidents import IncidentRecord

INCIDENT_NOTIFY = "incident.notify"
# What each outbox action of an incident is for (``incident_step.step``).
PERSON, CONTACT, DENY = "person", "contact", "deny"


@action(INCIDENT_NOTIFY)
@attrs.frozen
class IncidentNotify:
    """A DM to one person on their own side about an incident."""

    side: str  # "matrix" or "rocketchat"
    user_id: str
    username: str | None  # a Rocket.Chat DM is opened by username
    text: str


@attrs.frozen
class IncidentNotified:
    room_id: str = ""
    side: str | None = None


class IncidentError(ValueError):
    """An incident that cannot be opened as asked (the message says why)."""


def new_incident_id() -> str:
    return f"in-{secrets.token_hex(8)}"


def notify_action(
    incident: str, step: str, side: str, user_id: str, username: str | None, text: str
) -> Queued:
    """A notice to an affected person (``step`` "person") or to one of the server's
    Matrix contacts ("contact"); the key names the incident and the step, not the person."""
    return new_action(
        IncidentNotify(side, user_id, username, text),
        key=keys.incident_notify_key(incident, step, side, user_id),
        queue=keys.incident_queue(side, user_id),
    )


def erasure_text(scope: Scope, organisation: str) -> str:
    return (
        f"Erasure request from {organisation}: we treat {scope.server} as compromised or no "
        f"longer trusted. Please erase the {scope.items} item(s) about {len(scope.people)} "
        f"people that your server received from our Rocket.Chat bridge in these rooms: "
        + ", ".join(scope.totals("rooms"))
        + ", including media caches and backups where feasible, and confirm to us."
    )


@dataclass(frozen=True)
class Outcome:
    incident: str
    scope: Scope
    report: IncidentReport
    would_notify: tuple[str, ...]


async def open_incident(
    db: Database,
    server: str,
    *,
    since_ms: int | None,
    dry_run: bool,
    deny: bool,
    actor: str,
    organisation: str,
    contact_points: list[str],
    support: SupportLookup,
    mail_enabled: bool,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Open an incident: everything it writes (the incident, its notices, requests, deny
    and audit entries) commits in one transaction, so a crash leaves all or nothing.
    The contacts are looked up before it (a network read must not hold the write lock)."""
    register = PartnerRegister(db)
    partner = await register.get(server)
    if deny and partner is None:
        raise IncidentError(
            f"{server} is not in the partner register: register it (bridge partner set) "
            "before --deny, or leave --deny out"
        )
    opened = now_ms()
    incident = new_incident_id()
    scope = await incident_scope(db, server, since_ms)
    progress(f"ledger: {len(scope.people)} people, {scope.items} items reached {server}")
    reachable = [p for p in scope.people if p.reachable]
    contacts = None if dry_run else await support.contacts(server)
    requested = [] if contacts is None else _requested(contacts, mail_enabled)
    measures = Measures(
        len(reachable) if not dry_run else 0, tuple(requested), deny and not dry_run, dry_run
    )
    data = report(
        scope,
        organisation=organisation,
        partner_organisation=None if partner is None else partner.organisation,
        contact_points=contact_points,
        measures=measures,
        opened_ms=opened,
    )
    async with db.unit_of_work() as uow:
        await AuditLog.append(
            uow, "incident.opened", actor, None,
            {"incident": incident, "server": server, "since_ms": since_ms,
             "subjects": len(scope.people), "items": scope.items, "dry_run": dry_run},
        )  # fmt: skip
        opener = await pseudonyms.actor(uow.person_keys, actor)
        await uow.incidents.add(
            IncidentRecord(
                incident, server, since_ms, opened, opener,
                dry_run, deny, None, len(scope.people), scope.items, scope.ledger_mark,
                None if contacts is None else contacts.source,
                json.dumps({k: v for k, v in data.document().items() if k != "people"}),
            )
        )  # fmt: skip
        if contacts is not None:
            await _notify_people(uow, incident, scope, reachable, organisation, actor)
            await _request_erasure(
                uow, scope, incident, organisation, contacts, mail_enabled, actor
            )
            if deny:
                await _deny(uow, incident, server, actor)
    if not dry_run:
        progress(f"people: {len(reachable)} notice(s) queued")
        progress("server: erasure requested from " + (", ".join(requested) or "nobody"))
        if deny:
            progress(f"policy: {server} denied")
    progress(f"incident {incident} recorded")
    return Outcome(incident, scope, data, tuple(p.name for p in reachable))


async def _notify_people(
    uow: UnitOfWork,
    incident: str,
    scope: Scope,
    reachable: list[Affected],
    organisation: str,
    actor: str,
) -> None:
    for person in reachable:
        assert person.user_id is not None
        text = person_notice(scope, person, organisation)
        action = notify_action(incident, PERSON, person.side, person.user_id, person.username, text)
        await uow.enqueue(action)
        await uow.incidents.add_step(incident, action.key, PERSON, person.side)
    await AuditLog.append(
        uow, "incident.people_notified", actor, None,
        {"incident": incident, "server": scope.server, "queued": len(reachable)},
    )  # fmt: skip


def _requested(contacts: Contacts, mail_enabled: bool) -> list[str]:
    """Whom the erasure request goes to, as the report names them."""
    mails = [f"mailto:{e}" for e in contacts.emails] if mail_enabled else []
    return [str(u) for u in contacts.users] + mails


async def _request_erasure(
    uow: UnitOfWork,
    scope: Scope,
    incident: str,
    organisation: str,
    contacts: Contacts,
    mail_enabled: bool,
    actor: str,
) -> None:
    text = erasure_text(scope, organisation)
    for user in contacts.users:
        action = notify_action(incident, CONTACT, "matrix", user, None, text)
        await uow.enqueue(action)
        await uow.incidents.add_step(incident, action.key, CONTACT, "matrix")
    if mail_enabled:
        subject = f"Erasure request from {organisation} ({scope.server})"
        for email in contacts.emails:
            mail = mail_action(keys.incident_key(incident), email, subject, text)
            await uow.enqueue(mail)
            await uow.incidents.add_step(incident, mail.key, CONTACT, "email")
    await AuditLog.append(
        uow, "incident.erasure_requested", actor, None,
        {"incident": incident, "server": scope.server,
         "contacts": len(_requested(contacts, mail_enabled)), "source": contacts.source},
    )  # fmt: skip


async def _deny(uow: UnitOfWork, incident: str, server: str, actor: str) -> None:
    """The server's policy set to deny, and the register version it was recorded in
    (none when it was denied already: then no enforcement is queued again)."""
    partner, changed = await set_partner(uow, server, PartnerChanges(policy="deny"), actor)
    if not changed:
        return
    await uow.incidents.set_deny_version(incident, partner.version)
    for portal in await uow.bridging.active_portals():
        if portal.matrix_room_id:
            # The keys set_partner's enforcement queued, in this same transaction.
            key = enforce_action(portal.matrix_room_id, server, partner.version).key
            await uow.incidents.add_step(incident, key, DENY, "room", portal.matrix_room_id)
