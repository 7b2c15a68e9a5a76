"""Questions the ledger answers, for erasure, export and audit (GDPR Art. 15(1)(c), 17(2), 19).

- :meth:`LedgerQueries.recipients_of_subject`: who holds data of a person, how much of
  which category, first and last time.
- :meth:`LedgerQueries.erasure_plan`: the person's disclosures, paged in (room, time)
  order, each with the ids to redact/delete and the recipients to notify.
- :meth:`LedgerQueries.disclosed_to` / :meth:`LedgerQueries.server_summary`: what went
  to one server.
- :meth:`LedgerQueries.flows`: items per recipient per UTC day.
- :meth:`LedgerQueries.server_aggregate`: what pruning kept of a server's older items.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bridge.ids import EventID, RCMessageID, RCRoomID, RCUserID, RCUsername, RoomID, UserID
from bridge.privacy import pseudonyms
from bridge.privacy.categories import Category, Origin, RecipientKind
from bridge.privacy.subjects import Subject
from bridge.storage.database import Database
from bridge.storage.ledger import LedgerStore
from bridge.storage.ledger_reads import DAY_MS, Cursor, ItemRow, StatRow

DEFAULT_PAGE = 1000


class SubjectNotFoundError(LookupError):
    """No subject matches the given identifier."""


class AmbiguousSubjectError(LookupError):
    """A Rocket.Chat username matched several subjects (usernames can be reused)."""


@dataclass(frozen=True)
class CategoryCount:
    category: Category
    items: int


@dataclass(frozen=True)
class RecipientSummary:
    recipient: str
    kind: RecipientKind
    items: int
    categories: tuple[CategoryCount, ...]
    first_ms: int
    last_ms: int
    subjects: int | None = None  # only for a server summary


@dataclass(frozen=True)
class SubjectReport:
    subject: Subject
    recipients: tuple[RecipientSummary, ...]


@dataclass(frozen=True)
class LedgerItem:
    disclosure_id: int
    subject_id: int
    room_id: RoomID
    rc_room_id: RCRoomID | None
    origin: Origin
    categories: Category
    sent_ms: int
    event_id: EventID | None
    rc_message_id: RCMessageID | None
    recipients: tuple[str, ...] = ()
    # The partner register's version in force when it went out (docs/partners.md).
    register_version: int | None = None


@dataclass(frozen=True)
class Page:
    items: tuple[LedgerItem, ...]
    # Pass back as ``after`` for the next page; None on the last page.
    next: str | None


@dataclass(frozen=True)
class Flow:
    recipient: str
    kind: RecipientKind
    day: dt.date
    items: int
    categories: tuple[CategoryCount, ...]


@dataclass(frozen=True)
class Aggregated:
    """What pruning kept of a recipient's older disclosures: day counts, no one named."""

    recipient: str
    items: int
    categories: tuple[CategoryCount, ...]
    first_day: dt.date
    last_day: dt.date

    @property
    def before(self) -> dt.date:
        """Every item counted here was sent before this day (UTC)."""
        return self.last_day + dt.timedelta(days=1)

    def as_json(self) -> dict[str, Any]:
        return {
            "before": self.before.isoformat(),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "items": self.items,
            "categories": {c.category.label: c.items for c in self.categories},
        }


def encode_cursor(cursor: Cursor) -> str:
    return ".".join(str(part) for part in cursor)


def decode_cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        room, sent, ident = (int(part) for part in text.split("."))
    except ValueError:
        raise ValueError(f"not a ledger page cursor: {text!r}") from None
    return (room, sent, ident)


def _category_counts(masks: Iterable[tuple[int, int]]) -> tuple[CategoryCount, ...]:
    counts: dict[Category, int] = defaultdict(int)
    for mask, n in masks:
        for single in Category(mask).labels:
            counts[Category[single.upper()]] += n
    return tuple(CategoryCount(c, counts[c]) for c in Category if c in counts)


def _summaries(rows: Iterable[StatRow]) -> tuple[RecipientSummary, ...]:
    by_server: dict[str, list[StatRow]] = defaultdict(list)
    for row in rows:
        by_server[row.server].append(row)
    out = []
    for server, group in sorted(by_server.items()):
        out.append(
            RecipientSummary(
                recipient=server,
                kind=RecipientKind(group[0].kind),
                items=sum(r.count for r in group),
                categories=_category_counts((r.categories, r.count) for r in group),
                first_ms=min(r.first_ms for r in group),
                last_ms=max(r.last_ms for r in group),
            )
        )
    return tuple(out)


def _item(row: ItemRow, recipients: tuple[str, ...] = ()) -> LedgerItem:
    return LedgerItem(
        disclosure_id=row.id,
        subject_id=row.subject_ref,
        room_id=RoomID(row.room_id),
        rc_room_id=None if row.rc_room_id is None else RCRoomID(row.rc_room_id),
        origin=Origin(row.origin),
        categories=Category(row.categories),
        sent_ms=row.sent_ms,
        event_id=None if row.event_id is None else EventID(row.event_id),
        rc_message_id=None if row.rc_message_id is None else RCMessageID(row.rc_message_id),
        recipients=recipients,
        register_version=row.register_version,
    )


class LedgerQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find_subject(self, identifier: str, *, erased_too: bool = False) -> Subject:
        """Resolve a Matrix user id (``@user:server``), else a Rocket.Chat user id, else a
        Rocket.Chat username (with or without a leading ``@``).

        ``erased_too`` (lookups by an officer): an erased subject holds no ids any more,
        only the pseudonym of the id of its own account; while the person's pseudonym key
        exists, that id still finds it (and so does an older version's pseudonym, keyed
        with ``privacy.hash_key``). Once the key is shredded nothing does. Erasure
        requests do not use it: an erased subject has nothing left to erase."""
        keyless = False
        async with self._db.sessions() as session:
            store = LedgerStore(session)
            if identifier.startswith("@") and ":" in identifier:
                found = await store.find_subject(matrix_user_id=UserID(identifier))
            else:
                found = await store.find_subject(rc_user_id=RCUserID(identifier))
                if not found:
                    name = RCUsername(identifier.removeprefix("@"))
                    found = await store.find_subject(rc_username=name)
            hash_key = self._db.pseudonym_key
            if not found and erased_too and hash_key is not None:
                current = await pseudonyms.existing(self._db.person_keys(session), identifier)
                keyless = current is None
                earlier = pseudonyms.legacy_name(hash_key, identifier)
                for named in [n for n in (current, earlier) if n is not None]:
                    found = await store.find_subject(pseudonym=pseudonyms.digest_of(named))
                    if found:
                        break
        if not found:
            raise SubjectNotFoundError(
                f"no subject {identifier!r} in the ledger"
                + (
                    "; no pseudonym can be computed for it either: the bridge never named"
                    " it, or it was erased and its pseudonym key has been shredded"
                    if keyless
                    else ""
                )
            )
        if len(found) > 1:
            raise AmbiguousSubjectError(
                f"{identifier!r} names {len(found)} subjects; use the Rocket.Chat user id"
            )
        return Subject.of(found[0])

    async def recipients_of_subject(self, subject: Subject) -> SubjectReport:
        async with self._db.ledger.reads() as reads:
            rows = await reads.recipient_stats(subject.id, rc_origin=Origin.MATRIX)
        return SubjectReport(subject, _summaries(rows))

    async def erasure_plan(
        self, subject: Subject, *, after: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page:
        """The subject's disclosures in (room, time) order, with each item's recipients."""
        async with self._db.ledger.reads() as reads:
            rows = await reads.subject_items(subject.id, decode_cursor(after), limit)
            rooms = sorted({r.room_ref for r in rows})
            reach = await reads.reach_of_rooms(rooms)
            rocketchat = await reads.rocketchat_of_rooms(rooms)
        items = []
        for row in rows:
            servers = {
                r.server
                for r in reach[row.room_ref]
                if r.from_ms <= row.sent_ms and (r.to_ms is None or row.sent_ms < r.to_ms)
            }
            if row.origin == Origin.MATRIX and row.room_ref in rocketchat:
                servers.add(rocketchat[row.room_ref].name)
            items.append(_item(row, tuple(sorted(servers))))
        more = len(rows) == limit
        return Page(tuple(items), encode_cursor(rows[-1].cursor) if more else None)

    async def room_items(
        self,
        room_id: str,
        start_ms: int,
        end_ms: int,
        *,
        after: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """The disclosures of one room sent in ``[start_ms, end_ms)``, in time order, with
        each item's recipients (what a retention expiry redacts)."""
        async with self._db.ledger.reads() as reads:
            ref = await reads.room_ref(room_id)
            if ref is None:
                return Page((), None)
            rows = await reads.items_in_range(ref, start_ms, end_ms, decode_cursor(after), limit)
            reach = await reads.reach_of_rooms([ref])
            rocketchat = await reads.rocketchat_of_rooms([ref])
        items = []
        for row in rows:
            servers = {
                r.server
                for r in reach[ref]
                if r.from_ms <= row.sent_ms and (r.to_ms is None or row.sent_ms < r.to_ms)
            }
            if row.origin == Origin.MATRIX and ref in rocketchat:
                servers.add(rocketchat[ref].name)
            items.append(_item(row, tuple(sorted(servers))))
        more = len(rows) == limit
        return Page(tuple(items), encode_cursor(rows[-1].cursor) if more else None)

    async def disclosed_to(
        self,
        recipient: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """What went to ``recipient``, in (room, time) order, one index range at a time."""
        cursor = decode_cursor(after)
        async with self._db.ledger.reads() as reads:
            server = await reads.server(recipient)
            if server is None:
                return Page((), None)
            origin = Origin.MATRIX if server.kind == RecipientKind.ROCKETCHAT else None
            rows: list[ItemRow] = []
            for room, start, end in await reads.server_ranges(server):
                if cursor is not None and room < cursor[0]:
                    continue
                lo, hi = _clip(start, end, since_ms, until_ms)
                if hi is not None and hi <= lo:
                    continue
                more = await reads.items_in_range(room, lo, hi, cursor, limit - len(rows), origin)
                rows.extend(more)
                if len(rows) == limit:
                    break
        next_cursor = encode_cursor(rows[-1].cursor) if len(rows) == limit else None
        return Page(tuple(_item(r) for r in rows), next_cursor)

    async def server_summary(
        self, recipient: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> RecipientSummary | None:
        async with self._db.ledger.reads() as reads:
            server = await reads.server(recipient)
            if server is None:
                return None
            rows, subjects = await reads.server_stats(server, since_ms, until_ms, Origin.MATRIX)
        if not rows:
            return RecipientSummary(recipient, RecipientKind(server.kind), 0, (), 0, 0, 0)
        summary = _summaries(rows)[0]
        return RecipientSummary(
            summary.recipient,
            summary.kind,
            summary.items,
            summary.categories,
            summary.first_ms,
            summary.last_ms,
            subjects,
        )

    async def server_aggregate(
        self, recipient: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> Aggregated | None:
        """The day counts kept of ``recipient``'s pruned disclosures, of the days that start
        inside the window; None if there are none."""
        async with self._db.ledger.reads() as reads:
            server = await reads.server(recipient)
            days = _days(since_ms, until_ms)
            rows = [] if server is None else await reads.aggregates(server, *days)
        if not rows:
            return None
        return Aggregated(
            recipient,
            sum(r.items for r in rows),
            _category_counts((r.categories, r.items) for r in rows),
            _day(min(r.day for r in rows)),
            _day(max(r.day for r in rows)),
        )

    async def flows(
        self, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> tuple[Flow, ...]:
        """Items per recipient per UTC day: the ledger's, plus the day counts kept of pruned
        disclosures for the days that start inside the window (a day counts once when
        consecutive windows are asked)."""
        async with self._db.ledger.reads() as reads:
            rows = await reads.flows(since_ms, until_ms, Origin.MATRIX)
            kept = await reads.aggregates(None, *_days(since_ms, until_ms))
        grouped: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)
        for r in rows:
            grouped[(r.server, r.kind, r.day)].append((r.categories, r.count))
        for a in kept:
            grouped[(a.server, a.kind, a.day)].append((a.categories, a.items))
        return tuple(
            Flow(
                recipient=server,
                kind=RecipientKind(kind),
                day=_day(day),
                items=sum(n for _, n in masks),
                categories=_category_counts(masks),
            )
            for (server, kind, day), masks in sorted(
                grouped.items(), key=lambda kv: (kv[0][2], kv[0][0])
            )
        )


def _clip(
    start: int, end: int | None, since: int | None, until: int | None
) -> tuple[int, int | None]:
    lo = start if since is None else max(start, since)
    ends = [e for e in (end, until) if e is not None]
    return lo, (min(ends) if ends else None)


def _days(since_ms: int | None, until_ms: int | None) -> tuple[int | None, int | None]:
    """The days whose start lies in ``[since_ms, until_ms)``, as ``[first, end)`` numbers."""
    first = None if since_ms is None else -(-since_ms // DAY_MS)
    end = None if until_ms is None else -(-until_ms // DAY_MS)
    return first, end


def _day(number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=number)


def day_start_ms(day: dt.date) -> int:
    """Midnight UTC of ``day`` in ms (flows are counted per UTC day)."""
    return (day - dt.date(1970, 1, 1)).days * DAY_MS
