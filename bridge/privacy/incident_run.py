"""Carrying out an incident response: the notices, requests, deny and audit entries
(``bridge incident open``; docs/partners.md). The content lives in
``bridge.privacy.incident``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.privacy.audit import AuditLog
from bridge.privacy.incident import Measures, Scope, incident_scope, person_notice, report
from bridge.privacy.mail import mail_action
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.outbox import NewAction

INCIDENT_NOTIFY = "incident.notify"


class IncidentError(ValueError):
    """An incident that cannot be opened as asked (the message says why)."""


def notify_action(
    incident: str, side: str, user_id: str, username: str | None, text: str
) -> NewAction:
    digest = hashlib.sha256(f"{side}:{user_id}".encode()).hexdigest()[:24]
    return NewAction(
        key=f"incident:{incident}:{digest}",
        kind=INCIDENT_NOTIFY,
        queue=f"incident:{digest}",
        payload={"side": side, "user_id": user_id, "username": username, "text": text},
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
    scope: Scope
    report: dict[str, Any]
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
    register = PartnerRegister(db)
    partner = await register.get(server)
    if deny and partner is None:
        raise IncidentError(
            f"{server} is not in the partner register: register it (bridge partner set) "
            "before --deny, or leave --deny out"
        )
    opened = now_ms()
    incident = f"{server}:{opened}"
    scope = await incident_scope(db, server, since_ms)
    progress(f"ledger: {len(scope.people)} people, {scope.items} items reached {server}")
    reachable = [p for p in scope.people if p.reachable]
    await AuditLog(db).record(
        "incident.opened",
        actor,
        None,
        {"server": server, "since_ms": since_ms, "subjects": len(scope.people),
         "items": scope.items, "dry_run": dry_run},
    )  # fmt: skip
    requested: list[str] = []
    if not dry_run:
        async with db.unit_of_work() as uow:
            for person in reachable:
                assert person.user_id is not None
                text = person_notice(scope, person, organisation)
                await uow.enqueue(
                    notify_action(incident, person.side, person.user_id, person.username, text)
                )
            await AuditLog.append(
                uow, "incident.people_notified", actor, None,
                {"server": server, "queued": len(reachable)},
            )  # fmt: skip
        progress(f"people: {len(reachable)} notice(s) queued")
        requested = await _request_erasure(
            db, scope, incident, organisation, support, mail_enabled, actor
        )
        progress("server: erasure requested from " + (", ".join(requested) or "nobody"))
        if deny:
            await register.set(server, PartnerChanges(policy="deny"), actor)
            progress(f"policy: {server} denied")
    measures = Measures(
        len(reachable) if not dry_run else 0, tuple(requested), deny and not dry_run, dry_run
    )
    data = report(
        scope,
        organisation=organisation,
        partner=None if partner is None else partner.as_json(),
        contact_points=contact_points,
        measures=measures,
        opened_ms=opened,
    )
    return Outcome(scope, data, tuple(p.name for p in reachable))


async def _request_erasure(
    db: Database,
    scope: Scope,
    incident: str,
    organisation: str,
    support: SupportLookup,
    mail_enabled: bool,
    actor: str,
) -> list[str]:
    contacts = await support.contacts(scope.server)
    text = erasure_text(scope, organisation)
    reached: list[str] = []
    async with db.unit_of_work() as uow:
        for user in contacts.users:
            await uow.enqueue(notify_action(incident, "matrix", user, None, text))
            reached.append(str(user))
        if mail_enabled:
            subject = f"Erasure request from {organisation} ({scope.server})"
            for email in contacts.emails:
                await uow.enqueue(mail_action(f"incident:{incident}", email, subject, text))
                reached.append(f"mailto:{email}")
        await AuditLog.append(
            uow, "incident.erasure_requested", actor, None,
            {"server": scope.server, "contacts": len(reached), "source": contacts.source},
        )  # fmt: skip
    return reached
