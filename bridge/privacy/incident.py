"""Incident response for a compromised or banned partner server (GDPR Art. 33/34;
docs/partners.md, Incident response).

From the ledger: who was affected and what went to the server, per person, category,
room and UTC day. Then, unless it is a dry run: a notice to each affected person through
the bot on their own side, a request to erase to the server's contacts, optionally a
``deny`` for the server, and a report for the supervisory authority with the fields of
Art. 33(3), as JSON (``bridge/commands/schemas/incident.schema.json``) and Markdown.
Every step is in the audit chain.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import attrs

from bridge.privacy.categories import Category, Origin
from bridge.storage.database import Database
from bridge.storage.ledger_reads import DAY_MS

REPORT_VERSION = 1
SCHEMA_ID = "https://rc-matrix-privacy-bridge.invalid/schemas/incident.schema.json"


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_text(day: int) -> str:
    return dt.datetime.fromtimestamp(day * DAY_MS / 1000, tz=dt.UTC).date().isoformat()


@dataclass
class Affected:
    """One person whose data reached the server."""

    subject_id: int
    side: str  # "rocketchat" or "matrix": where the bot can reach them
    user_id: str | None
    username: str | None
    erased: bool
    items: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    rooms: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)

    @property
    def name(self) -> str:
        return self.username or self.user_id or f"subject {self.subject_id}"

    @property
    def reachable(self) -> bool:
        return not self.erased and self.user_id is not None

    def view(self) -> AffectedPerson:
        return AffectedPerson(
            self.subject_id,
            self.side,
            self.user_id,
            self.username,
            self.items,
            dict(sorted(self.categories.items())),
            dict(sorted(self.rooms.items())),
            dict(sorted(self.days.items())),
        )


@attrs.frozen
class AffectedPerson:
    """A person in the report (the fields are the report's keys, in its order)."""

    subject_id: int
    side: str
    user_id: str | None
    username: str | None
    items: int
    categories: dict[str, int]
    rooms: dict[str, int]
    days: dict[str, int]


@dataclass(frozen=True)
class Scope:
    server: str
    since_ms: int | None
    people: tuple[Affected, ...]
    ledger_mark: int = 0  # the newest disclosure id the scope read

    @property
    def items(self) -> int:
        return sum(p.items for p in self.people)

    def totals(self, what: str) -> dict[str, int]:
        total: Counter[str] = Counter()
        for p in self.people:
            total.update(getattr(p, what))
        return dict(sorted(total.items()))


async def incident_scope(
    db: Database, server: str, since_ms: int | None, up_to_id: int | None = None
) -> Scope:
    """The people affected and their items sent from ``since``, from the ledger: what was
    recorded up to the mark ``up_to_id`` (by default, up to now; the scope keeps the mark,
    so the same scope can be read again later)."""
    async with db.ledger.reads() as reads:
        mark = await reads.last_disclosure_id() if up_to_id is None else up_to_id
        record = await reads.server(server)
        if record is None:
            return Scope(server, since_ms, (), mark)
        rows = await reads.server_breakdown(record, since_ms, mark)
        subjects = await reads.subjects(sorted({r[0] for r in rows}))
    people: dict[int, Affected] = {}
    for sid, origin, mxid, rc_id, username, erased in subjects:
        rocketchat = origin == Origin.ROCKETCHAT
        people[sid] = Affected(
            sid,
            "rocketchat" if rocketchat else "matrix",
            rc_id if rocketchat else mxid,
            username if rocketchat else None,
            erased is not None,
        )
    for sid, room, day, mask, count in rows:
        person = people[sid]
        person.items += count
        for label in Category(mask).labels:
            person.categories[label] += count
        person.rooms[room] += count
        person.days[day_text(day)] += count
    ordered = sorted(people.values(), key=lambda p: (-p.items, p.subject_id))
    return Scope(server, since_ms, tuple(ordered), mark)


def person_notice(scope: Scope, person: Affected, organisation: str) -> str:
    """What the bot tells an affected person: what went to the server, and when."""
    days = sorted(person.days)
    cats = ", ".join(f"{k} ({v})" for k, v in sorted(person.categories.items()))
    return (
        f"Notice from {organisation}: the Matrix server {scope.server} is treated as "
        "compromised or is no longer trusted. Through our Rocket.Chat bridge it received "
        f"{person.items} item(s) of your personal data, from {days[0]} to {days[-1]}, in "
        f"{len(person.rooms)} room(s): {cats}. We have asked its operators to erase them. "
        "You can see everything we recorded with `!privacy export`, and ask for erasure "
        "with `!privacy delete`."
    )


@dataclass(frozen=True)
class Measures:
    people_notified: int
    erasure_requested_from: tuple[str, ...]
    denied: bool
    dry_run: bool


def _lists(_inst: object, _field: object, value: object) -> object:
    return list(value) if isinstance(value, tuple) else value  # JSON arrays


@attrs.frozen
class Count:
    approximate_number: int


@attrs.frozen
class IncidentReport:
    """The report for the supervisory authority, with the fields of GDPR Art. 33(3), in
    the order of its JSON document (:meth:`document`; ``incident.schema.json``)."""

    opened_at: str
    controller: str
    server: str
    organisation: str | None
    since: str | None
    nature: str
    data_subjects: Count
    records: Count
    categories: dict[str, int]
    by_room: dict[str, int]
    by_day: dict[str, int]
    contact_points: tuple[str, ...]
    likely_consequences: str
    measures_taken: tuple[str, ...]
    people: tuple[AffectedPerson, ...]

    def document(self) -> dict[str, Any]:
        """The JSON document, as written to a file, the CLI's output or a download."""
        body = attrs.asdict(self, value_serializer=_lists)
        return {"$schema": SCHEMA_ID, "report_version": REPORT_VERSION} | body

    @classmethod
    def stored(cls, document: dict[str, Any], people: tuple[AffectedPerson, ...]) -> IncidentReport:
        """A report as the incident stored it (its document without the people), with
        ``people`` read again; keys it does not know are ignored."""
        known = {f.name for f in attrs.fields(cls)} - {"people"}
        values = {k: v for k, v in document.items() if k in known}
        return cls(
            **values
            | {
                "data_subjects": Count(**values["data_subjects"]),
                "records": Count(**values["records"]),
                "contact_points": tuple(values["contact_points"]),
                "measures_taken": tuple(values["measures_taken"]),
                "people": people,
            }
        )


def report(
    scope: Scope,
    *,
    organisation: str,
    partner_organisation: str | None,
    contact_points: list[str],
    measures: Measures,
    opened_ms: int,
) -> IncidentReport:
    """The report for the supervisory authority, with the fields of GDPR Art. 33(3)."""
    steps = []
    if measures.people_notified:
        steps.append(f"{measures.people_notified} affected people notified (Art. 34)")
    if measures.erasure_requested_from:
        steps.append("erasure requested from " + ", ".join(measures.erasure_requested_from))
    if measures.denied:
        steps.append(f"{scope.server} denied: removed from every bridged room (server ACL)")
    if measures.dry_run:
        steps.append("dry run: nothing sent yet")
    return IncidentReport(
        opened_at=iso(opened_ms),
        controller=organisation,
        server=scope.server,
        organisation=partner_organisation,
        since=None if scope.since_ms is None else iso(scope.since_ms),
        nature=(
            f"Personal data relayed to the Matrix homeserver {scope.server} through the "
            "Rocket.Chat bridge may have been accessed by unauthorised parties: the server "
            "is treated as compromised or is no longer trusted."
        ),
        data_subjects=Count(len(scope.people)),
        records=Count(scope.items),
        categories=scope.totals("categories"),
        by_room=scope.totals("rooms"),
        by_day=scope.totals("days"),
        contact_points=tuple(contact_points),
        likely_consequences=(
            "Disclosure of the listed categories (message text, names, files, reactions) "
            "to unauthorised parties; loss of confidentiality of the conversations in the "
            "listed rooms."
        ),
        measures_taken=tuple(steps),
        people=tuple(p.view() for p in scope.people),
    )


def markdown(data: IncidentReport) -> str:
    lines = [
        f"# Personal data breach report: {data.server}",
        "",
        f"- Opened: {data.opened_at}",
        f"- Controller: {data.controller}",
        f"- Recipient organisation: {data.organisation or 'not in the partner register'}",
        f"- Since: {data.since or 'the start of the ledger'}",
        "",
        "## Nature of the breach (Art. 33(3)(a))",
        "",
        data.nature,
        "",
        f"- Data subjects (approximate): {data.data_subjects.approximate_number}",
        f"- Records (approximate): {data.records.approximate_number}",
        "",
        "| category | items |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in data.categories.items()),
        "",
        "## Contact points (Art. 33(3)(b))",
        "",
        *(f"- {c}" for c in data.contact_points or ["(none configured: privacy.admins)"]),
        "",
        "## Likely consequences (Art. 33(3)(c))",
        "",
        data.likely_consequences,
        "",
        "## Measures taken or proposed (Art. 33(3)(d))",
        "",
        *(f"- {m}" for m in data.measures_taken or ["none yet"]),
        "",
    ]
    return "\n".join(lines)
