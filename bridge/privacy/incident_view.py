"""What an incident response found and how far it got, for the dashboard and the CLI
(docs/partners.md, Incident response). Nobody is named here: people and contacts are
counted, rooms and days are not personal. The report for the supervisory authority,
which names the people, is :func:`incident_report` (a download, audited by its caller).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import attrs

from bridge.privacy.audit import AuditLog, Details, DetailValue
from bridge.privacy.incident import IncidentReport, incident_scope, iso
from bridge.privacy.incident_run import CONTACT, DENY, PERSON
from bridge.privacy.partner_values import Partner
from bridge.privacy.partners import PartnerRegister
from bridge.storage.database import Database
from bridge.storage.incidents import IncidentRecord, IncidentStep
from bridge.storage.outbox import DEAD, DONE, DROPPED, PENDING

# A step's state, from its outbox row: "sent" (done, or done and pruned since), "pending"
# (not tried yet), "retrying" (tried and failed, will be tried again), "failed" (a dead
# letter: given up, an operator may retry it) or "dropped" (an operator dropped it).
SENT, WAITING, RETRYING, FAILED, DROPPED_STATE = "sent", "pending", "retrying", "failed", "dropped"
STATES = (SENT, WAITING, RETRYING, FAILED, DROPPED_STATE)
ENFORCED_AUDIT_LIMIT = 1000


def step_state(step: IncidentStep) -> str:
    if step.status is None or step.status == DONE:
        return SENT  # only done rows are ever pruned (bridge.storage.retention)
    if step.status == PENDING:
        return RETRYING if step.attempts or step.last_error else WAITING
    if step.status == DEAD:
        return FAILED
    if step.status == DROPPED:
        return DROPPED_STATE
    return step.status


def _counts(steps: list[IncidentStep]) -> dict[str, int]:
    found = Counter(step_state(s) for s in steps)
    return {state: found.get(state, 0) for state in STATES}


@attrs.frozen
class IncidentSummary:
    """An incident in the list (the fields are the JSON's keys, in its order)."""

    id: str
    server: str
    organisation: str | None
    since: str | None
    opened_at: str
    opened_by: str
    dry_run: bool
    deny_asked: bool
    subjects: int
    items: int
    people_notices: dict[str, int]  # by step state (STATES)
    requests: dict[str, int]


@attrs.frozen
class IncidentList:
    incidents: tuple[IncidentSummary, ...]
    total: int


@attrs.frozen
class ContactRequest:
    channel: str
    state: str
    dead_cause: str | None


@attrs.frozen
class DenyRoom:
    room_id: str | None
    state: str
    # As the audit chain's ``partner.enforced`` entry records them; None before it.
    acl: DetailValue
    kicked: DetailValue


@attrs.frozen
class DenyProgress:
    asked: bool
    applied: str
    policy_now: str | None
    rooms: tuple[DenyRoom, ...]
    rooms_done: int


@attrs.frozen
class IncidentDetail(IncidentSummary):
    categories: dict[str, int]
    by_room: dict[str, int]
    by_day: dict[str, int]
    contacts_source: str | None
    request_list: tuple[ContactRequest, ...]
    deny: DenyProgress


def _summary_fields(record: IncidentRecord, steps: list[IncidentStep]) -> dict[str, Any]:
    report = json.loads(record.report)
    return {
        "id": record.id,
        "server": record.server,
        "organisation": report.get("organisation"),
        "since": None if record.since_ms is None else iso(record.since_ms),
        "opened_at": iso(record.opened_ms),
        "opened_by": record.actor,
        "dry_run": record.dry_run,
        "deny_asked": record.deny_asked,
        "subjects": record.subjects,
        "items": record.items,
        "people_notices": _counts([s for s in steps if s.step == PERSON]),
        "requests": _counts([s for s in steps if s.step == CONTACT]),
    }


async def incident_list(db: Database, limit: int = 100) -> IncidentList:
    """The newest incidents with their progress, newest first."""
    async with db.unit_of_work() as uow:
        records = await uow.incidents.recent(limit)
        total = await uow.incidents.count()
        rows = [
            IncidentSummary(**_summary_fields(r, await uow.incidents.steps(r.id))) for r in records
        ]
    return IncidentList(tuple(rows), total)


async def incident_detail(db: Database, incident_id: str) -> IncidentDetail | None:
    """One incident: what it found (counts per category, room and day), the notices to
    people (counts), the requests to the server's contacts (by channel, not by address)
    and the deny, each with its progress."""
    async with db.unit_of_work() as uow:
        record = await uow.incidents.get(incident_id)
        if record is None:
            return None
        steps = await uow.incidents.steps(incident_id)
    report = json.loads(record.report)
    partner = await PartnerRegister(db).get(record.server)
    requests = [
        ContactRequest(s.channel, step_state(s), s.dead_cause) for s in steps if s.step == CONTACT
    ]
    return IncidentDetail(
        **_summary_fields(record, steps),
        categories=report.get("categories", {}),
        by_room=report.get("by_room", {}),
        by_day=report.get("by_day", {}),
        contacts_source=record.contacts_source,
        request_list=tuple(requests),
        deny=await _deny(db, record, [s for s in steps if s.step == DENY], partner),
    )


async def _deny(
    db: Database, record: IncidentRecord, steps: list[IncidentStep], partner: Partner | None
) -> DenyProgress:
    """Whether the deny was asked, recorded, and what its enforcement did in each room
    (the outcome as the audit chain's ``partner.enforced`` entries record it)."""
    outcomes: dict[str, Details] = {}
    if steps:
        entries = await AuditLog(db).newest(kind="partner.enforced", limit=ENFORCED_AUDIT_LIMIT)
        for e in reversed(entries):  # oldest first: the newest outcome per room wins
            if e.details.get("server") == record.server and e.at_ms >= record.opened_ms:
                outcomes[str(e.details.get("room_id"))] = e.details
    rooms = [
        DenyRoom(
            s.room_id,
            step_state(s),
            outcomes.get(str(s.room_id), {}).get("acl"),
            outcomes.get(str(s.room_id), {}).get("kicked"),
        )
        for s in steps
    ]
    if not record.deny_asked or record.dry_run:
        applied = "not asked" if not record.deny_asked else "not applied (dry run)"
    elif record.deny_version is None:
        applied = "already in force when the incident was opened"
    else:
        applied = f"recorded in register version {record.deny_version}"
    return DenyProgress(
        asked=record.deny_asked,
        applied=applied,
        policy_now=None if partner is None else partner.policy,
        rooms=tuple(rooms),
        rooms_done=sum(1 for r in rooms if r.state == SENT),
    )


async def incident_report(db: Database, incident_id: str) -> IncidentReport | None:
    """The Art. 33(3) report as opened, with its list of people read again from the
    ledger for the same scope (items sent from ``since``, recorded up to the opening).

    The list is not stored with the incident, so it follows erasures made since (an
    erased person appears without ids) and the ledger's retention."""
    async with db.unit_of_work() as uow:
        record = await uow.incidents.get(incident_id)
    if record is None:
        return None
    scope = await incident_scope(db, record.server, record.since_ms, record.ledger_mark)
    people = tuple(p.view() for p in scope.people)
    return IncidentReport.stored(json.loads(record.report), people)
