"""Counting what the bridge holds about a person, and saying it plainly (``status`` and
the ``delete`` summary)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bridge.commands import texts
from bridge.config.model import PrivacyMode
from bridge.privacy.categories import Category
from bridge.privacy.erasure_model import ErasureScope
from bridge.privacy.queries import LedgerQueries, RecipientSummary
from bridge.privacy.subjects import Subject
from bridge.storage.bridging import Portal
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import RequestRecord

PAGE = 1000


@dataclass
class Tally:
    items: int = 0
    rooms: set[str] = field(default_factory=set)
    servers: set[str] = field(default_factory=set)
    categories: Counter[str] = field(default_factory=Counter)
    recipients: tuple[RecipientSummary, ...] = ()


async def tally(
    queries: LedgerQueries, subject: Subject, scope: ErasureScope | None = None
) -> Tally:
    """The person's items (within ``scope``), their rooms and every server they reached."""
    scope = scope or ErasureScope()
    out = Tally()
    after: str | None = None
    while True:
        page = await queries.erasure_plan(subject, after=after, limit=PAGE)
        for item in page.items:
            if scope.room is not None and scope.room not in (item.room_id, item.rc_room_id):
                continue
            if scope.before_ms is not None and item.sent_ms >= scope.before_ms:
                continue
            out.items += 1
            out.rooms.add(item.room_id)
            out.servers.update(item.recipients)
            for label in Category(item.categories).labels:
                out.categories[label] += 1
        if page.next is None:
            break
        after = page.next
    if scope.whole:
        out.recipients = (await queries.recipients_of_subject(subject)).recipients
    return out


async def resolve_portal(uow: UnitOfWork, ref: str) -> Portal | None:
    """A bridged room by Matrix room id, Rocket.Chat room id, or Rocket.Chat name."""
    if ref.startswith("!"):
        return await uow.bridging.portal_by_matrix(ref)
    portal = await uow.bridging.portal_by_rc(ref)
    if portal is not None:
        return portal
    portal_id = await uow.commands.portal_id_by_name(ref.removeprefix("#"))
    return None if portal_id is None else await uow.bridging.portal_by_id(portal_id)


def describe_scope(scope: ErasureScope) -> str:
    if scope.whole:
        return "everything"
    parts = []
    if scope.room:
        parts.append(f"room {scope.room}")
    if scope.before_ms is not None:
        parts.append(f"before {texts.day(scope.before_ms)}")
    return " and ".join(parts)


def _categories(counts: Counter[str]) -> str:
    return ", ".join(f"{label.replace('_', ' ')} {n}" for label, n in sorted(counts.items()))


def status_text(counted: Tally | None, opted_out: bool, requests: list[RequestRecord]) -> str:
    lines = []
    if counted is None or counted.items == 0:
        lines.append("The bridge holds nothing about you: none of your data has been bridged.")
    else:
        lines.append(
            f"The bridge has carried {counted.items} item(s) about you across, in "
            f"{len(counted.rooms)} room(s): {_categories(counted.categories)}."
        )
        lines.append("Servers that received your data:")
        for r in counted.recipients:
            lines.append(
                f"- {r.recipient} ({r.kind.label}): {r.items} item(s), "
                f"{texts.day(r.first_ms)} to {texts.day(r.last_ms)}"
            )
    lines.append(
        "You are opted out of bridging." if opted_out else "Your messages are bridged (opted in)."
    )
    if requests:
        lines.append("Your open requests:")
        for q in requests:
            due = texts.day(q.extended_due_ms or q.due_ms)
            lines.append(
                f"- {q.id}: {texts.STATE_WORDS.get(q.state, q.state)} "
                f"(received {texts.day(q.received_ms)}, due {due})"
            )
    else:
        lines.append("You have no open requests.")
    return "\n".join(lines)


def summary_text(counted: Tally, scope: ErasureScope, mode: PrivacyMode) -> str:
    servers = sorted(counted.servers)
    lines = [
        f"Erasing {describe_scope(scope)} would cover {counted.items} item(s) in "
        f"{len(counted.rooms)} room(s), copied to {len(servers)} server(s): "
        f"{', '.join(servers) or 'none'}.",
        texts.NOT_POSSIBLE,
    ]
    if scope.whole:
        lines.append("Your bridged profile (name, avatar) is scrubbed too.")
    else:
        lines.append(
            "Your bridged profile (name, avatar) stays: only an erasure of everything scrubs it"
            + (", and files are only deleted without a room filter." if scope.room else ".")
        )
    if mode == "admin-approval":
        lines.append("A privacy officer approves each request first; you will be told here.")
    return "\n".join(lines)
