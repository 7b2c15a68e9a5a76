"""``!privacy export`` and ``bridge privacy export``: everything the bridge holds about a
person, as one JSON document (GDPR Art. 15 access and Art. 20 portability).

The document follows ``bridge/commands/schemas/export.schema.json`` (shipped with the
package; :func:`schema` reads it). It names every recipient server with dates and
categories (Art. 15(1)(c); CJEU C-154/21: the recipients themselves, not categories of
them) and every disclosure by its ids, never its content: the bridge keeps what a person
wrote only while relaying it, and the document's ``storage`` part says so, with how long
each kind of record is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bridge.commands.export_rights import (
    NO_TERMS,
    PURPOSES,
    recipient_terms,
    retention_by_category,
    rights,
    source_of,
)
from bridge.config.model import Config, PrivacyConfig, StorageConfig
from bridge.privacy.erasure import LOG_RETENTION_MS
from bridge.privacy.pseudonyms import person_name
from bridge.privacy.queries import LedgerQueries
from bridge.privacy.subjects import Subject
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork

SCHEMA_ID = "https://rc-matrix-privacy-bridge.invalid/schemas/export.schema.json"
FORMAT_VERSION = 2
PAGE = 1000


def schema() -> dict[str, Any]:
    text = resources.files("bridge.commands").joinpath("schemas/export.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# What the bridge keeps of what a person wrote, in their own words (the export's "storage").
CONTENT_STATEMENT = (
    "The text and files you send through the bridge are kept in its database only while "
    "they are being relayed, and are deleted from it as soon as they are delivered. One "
    "that cannot be delivered is kept until an operator retries or drops it. The copies "
    "on Rocket.Chat and on the Matrix servers that received them are theirs, listed above "
    "as recipients."
)


@dataclass(frozen=True)
class Retention:
    """How long the bridge keeps each kind of record (from the config)."""

    processed_hours: int = StorageConfig.done_retention_hours
    ledger_days: int = PrivacyConfig.ledger_retention_days
    # privacy.supervisory_authority: who the person may complain to (Art. 77).
    supervisory_authority: str | None = None

    @classmethod
    def of(cls, config: Config) -> Retention:
        return cls(
            config.storage.done_retention_hours,
            config.privacy.ledger_retention_days,
            config.privacy.supervisory_authority,
        )

    def document(self) -> dict[str, Any]:
        return {
            "message_content": CONTENT_STATEMENT,
            "delivered_item_ids_hours": self.processed_hours,
            "disclosure_records_days": self.ledger_days,
            "erasure_requests_days": LOG_RETENTION_MS // 86_400_000,
        }


@dataclass(frozen=True)
class Identity:
    """A person's accounts as far as the bridge knows them."""

    matrix_user_id: str | None = None
    rc_user_id: str | None = None
    rc_username: str | None = None

    @property
    def persons(self) -> list[str]:
        """Their keys in the command tables (opt-out, notice)."""
        keys = []
        if self.matrix_user_id:
            keys.append(f"matrix:{self.matrix_user_id}")
        if self.rc_user_id:
            keys.append(f"rocketchat:{self.rc_user_id}")
        return keys

    def merged(self, subject: Subject | None) -> Identity:
        if subject is None:
            return self
        return Identity(
            self.matrix_user_id or subject.matrix_user_id,
            self.rc_user_id or subject.rc_user_id,
            self.rc_username or subject.rc_username,
        )


async def own_subject(uow: UnitOfWork, identity: Identity) -> Subject | None:
    """The ledger subject of exactly this account: looked up by the id of the side the
    person wrote from, never by a name someone typed (a username can be reused)."""
    if identity.matrix_user_id is not None:
        found = await uow.ledger.find_subject(matrix_user_id=identity.matrix_user_id)
    elif identity.rc_user_id is not None:
        found = await uow.ledger.find_subject(rc_user_id=identity.rc_user_id)
    else:
        return None
    return Subject.of(found[0]) if found else None


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


async def build(db: Database, identity: Identity, retention: Retention) -> dict[str, Any]:
    """The export document of ``identity`` (empty lists when the bridge holds nothing)."""
    async with db.unit_of_work() as uow:
        subject = await own_subject(uow, identity)
        identity = identity.merged(subject)
        requests = await _requests(uow, identity, subject)
        opted = [
            await uow.commands.opted_out_since(await person_name(uow, p)) for p in identity.persons
        ]
        shown = [
            await uow.commands.notice_shown_at(await person_name(uow, p)) for p in identity.persons
        ]
    recipients: list[dict[str, Any]] = []
    disclosures: list[dict[str, Any]] = []
    terms = await recipient_terms(db)
    if subject is not None:
        queries = LedgerQueries(db)
        report = await queries.recipients_of_subject(subject)
        recipients = [
            {
                "server": r.recipient,
                "kind": r.kind.label,
                "items": r.items,
                "categories": {c.category.label: c.items for c in r.categories},
                "first_at": iso(r.first_ms),
                "last_at": iso(r.last_ms),
                **terms.get(r.recipient, NO_TERMS),
            }
            for r in report.recipients
        ]
        disclosures = await _disclosures(queries, subject)
    since = [ms for ms in opted if ms is not None]
    shown_at = [ms for ms in shown if ms is not None]
    return {
        "$schema": SCHEMA_ID,
        "format_version": FORMAT_VERSION,
        "generated_at": iso(now_ms()),
        "subject": {
            "matrix_user_id": identity.matrix_user_id,
            "rocketchat_user_id": identity.rc_user_id,
            "rocketchat_username": identity.rc_username,
            "origin": None if subject is None else subject.origin.label,
            "erased_at": None if subject is None else iso(subject.erased_ms),
        },
        "recipients": recipients,
        "disclosures": disclosures,
        "requests": requests,
        "opted_out": bool(since),
        "opted_out_since": iso(min(since)) if since else None,
        "notice_shown_at": iso(min(shown_at)) if shown_at else None,
        "storage": retention.document(),
        "purposes": list(PURPOSES),
        "retention_by_category": retention_by_category(retention.ledger_days),
        **rights(retention.supervisory_authority),
    }


async def _disclosures(queries: LedgerQueries, subject: Subject) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await queries.erasure_plan(subject, after=after, limit=PAGE)
        out.extend(
            {
                "id": item.disclosure_id,
                "room_id": item.room_id,
                "rocketchat_room_id": item.rc_room_id,
                "origin": item.origin.label,
                "categories": list(item.categories.labels),
                "sent_at": iso(item.sent_ms),
                "event_id": item.event_id,
                "rocketchat_message_id": item.rc_message_id,
                "recipients": list(item.recipients),
                "source": source_of(item.origin.label, list(item.categories.labels)),
            }
            for item in page.items
        )
        if page.next is None:
            return out
        after = page.next


async def _requests(
    uow: UnitOfWork, identity: Identity, subject: Subject | None
) -> list[dict[str, Any]]:
    own = {identity.matrix_user_id, identity.rc_user_id} - {None}
    states = [
        "received",
        "verified",
        "approved",
        "planned",
        "executing",
        "done",
        "partially_done",
        "denied",
        "cancelled",
    ]
    found = await uow.erasure.requests_in(states, limit=10_000)
    return [
        {
            "id": r.id,
            "state": r.state,
            "asked_by_you": r.requester in own,
            "scope": {"room": r.scope_room, "before": iso(r.scope_before_ms)},
            "jurisdiction": r.jurisdiction,
            "received_at": iso(r.received_ms),
            "due_at": iso(r.extended_due_ms or r.due_ms),
            "finished_at": iso(r.finished_ms),
        }
        for r in found
        if (subject is not None and r.subject_ref == subject.id) or r.requester in own
    ]


def encode(document: dict[str, Any]) -> tuple[bytes, str]:
    """The file's bytes and their SHA-256 (recorded in the audit log)."""
    data = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return data, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ExportFile:
    """The export as the file handed to the person: its bytes and their SHA-256."""

    data: bytes
    sha256: str


async def export_file(db: Database, identity: Identity, retention: Retention) -> ExportFile:
    """The export of ``identity`` as a file; the document stays JSON inside this package."""
    data, digest = encode(await build(db, identity, retention))
    return ExportFile(data, digest)
