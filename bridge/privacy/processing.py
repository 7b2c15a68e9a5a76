"""The record of processing activities for the bridge's transfers (GDPR Art. 30(1)(d)(e)):
the recipients by category and by organisation, the transfers to third countries with
their safeguards, and each recipient's retention promise, from the partner register and
the disclosure ledger (``bridge audit export --what processing``; docs/partners.md)."""

from __future__ import annotations

from typing import Any

import attrs

from bridge.privacy.categories import RecipientKind
from bridge.privacy.partners import PartnerRegister
from bridge.privacy.queries import LedgerQueries
from bridge.storage.database import Database

PROCESSING_COLUMNS = (
    "recipient",
    "kind",
    "organisation",
    "registered",
    "policy",
    "lawful_basis",
    "jurisdiction",
    "third_country",
    "safeguard",
    "retention_days",
    "agreement_ref",
    "agreement_version",
    "items",
    "subjects",
    "categories",
    # What pruning kept of older items (privacy.ledger_retention_days): day counts, no one.
    "aggregated_before",
    "aggregated_items",
    "aggregated_categories",
)


@attrs.frozen
class ProcessingRow:
    """One recipient server in the record; the fields are :data:`PROCESSING_COLUMNS`, in
    that order (``attrs.asdict`` gives the export's row)."""

    recipient: str
    kind: str
    organisation: str | None
    registered: bool
    policy: str | None
    lawful_basis: str | None
    jurisdiction: str | None
    third_country: bool | None
    safeguard: str | None
    retention_days: int | None
    agreement_ref: str | None
    agreement_version: str | None
    items: int
    subjects: int
    categories: dict[str, int]
    aggregated_before: str | None
    aggregated_items: int
    aggregated_categories: dict[str, int]


async def processing_rows(db: Database) -> list[ProcessingRow]:
    """One row per recipient server, its terms from the register (null when it has none)."""
    partners = {p.server: p for p in await PartnerRegister(db).all()}
    async with db.ledger.reads() as reads:
        servers = await reads.servers()
    queries = LedgerQueries(db)
    names = sorted(
        {s.name for s in servers if s.kind != RecipientKind.LOCAL_HOMESERVER} | set(partners)
    )
    kinds = {s.name: RecipientKind(s.kind).label for s in servers}
    rows: list[ProcessingRow] = []
    for name in names:
        summary = await queries.server_summary(name)
        kept = await queries.server_aggregate(name)
        p = partners.get(name)
        rows.append(
            ProcessingRow(
                recipient=name,
                kind=kinds.get(name, RecipientKind.REMOTE_HOMESERVER.label),
                organisation=p.organisation if p else None,
                registered=p is not None,
                policy=p.policy if p else None,
                lawful_basis=p.lawful_basis if p else None,
                jurisdiction=p.jurisdiction if p else None,
                third_country=p.third_country if p else None,
                safeguard=p.safeguard if p else None,
                retention_days=p.retention_days if p else None,
                agreement_ref=p.agreement_ref if p else None,
                agreement_version=p.agreement_version if p else None,
                items=summary.items if summary else 0,
                subjects=(summary.subjects or 0) if summary else 0,
                categories={c.category.label: c.items for c in summary.categories}
                if summary
                else {},
                aggregated_before=kept.before.isoformat() if kept else None,
                aggregated_items=kept.items if kept else 0,
                aggregated_categories={c.category.label: c.items for c in kept.categories}
                if kept
                else {},
            )
        )
    return rows


def processing_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The record's views: recipients by category and by organisation, third-country
    transfers, retention promises."""
    by_category: dict[str, list[str]] = {}
    by_organisation: dict[str, list[str]] = {}
    for r in rows:
        who = r["organisation"] or f"{r['recipient']} (not in the partner register)"
        by_organisation.setdefault(who, []).append(r["recipient"])
        for counts in (r["categories"], r["aggregated_categories"]):
            for cat, n in counts.items():
                if n:
                    by_category.setdefault(cat, []).append(who)
    return {
        "recipients_by_category": {k: sorted(set(v)) for k, v in sorted(by_category.items())},
        "recipients_by_organisation": dict(sorted(by_organisation.items())),
        "third_country_transfers": [
            {
                "recipient": r["recipient"],
                "organisation": r["organisation"],
                "jurisdiction": r["jurisdiction"],
                "safeguard": r["safeguard"],
            }
            for r in rows
            if r["third_country"]
        ],  # fmt: skip
        "retention_promises": {
            r["recipient"]: r["retention_days"] for r in rows if r["registered"]
        },
        "unregistered_recipients": [r["recipient"] for r in rows if not r["registered"]],
    }
