"""The disclosure ledger's writes, inside the caller's transaction (``UnitOfWork.ledger``).

Plain ints and strings in and out: the domain meaning (categories, visibility, the
recipient rule) lives in ``bridge.privacy``; this module only stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.cache import SUBJECT, RefCache, UnitCache
from bridge.storage.common import insert_ignoring_conflicts, now_ms, rowcount
from bridge.storage.ledger_aggregate import prune_into_aggregates
from bridge.storage.ledger_rows import (
    Disclosure,
    LedgerMember,
    LedgerPresence,
    LedgerReach,
    LedgerRoom,
    LedgerServer,
    LedgerSubject,
    LedgerVisibility,
)
from bridge.storage.partners_rows import STATE_ID, PartnerRegisterState
from bridge.storage.write_buffer import InsertBuffer


@dataclass(frozen=True)
class SubjectRecord:
    id: int
    origin: int
    matrix_user_id: str | None
    rc_user_id: str | None
    rc_username: str | None
    erased_ms: int | None


@dataclass(frozen=True)
class NewDisclosure:
    subject_ref: int
    room_ref: int
    origin: int
    categories: int
    sent_ms: int
    event_id: str | None
    rc_message_id: str | None
    content_hash: bytes | None


@dataclass(frozen=True)
class PresenceRecord:
    state: int
    from_ms: int
    to_ms: int | None


def _by_mx(matrix_user_id: str) -> tuple[str | None, ...]:
    """``find_subject``'s cache key for a Matrix id alone."""
    return (matrix_user_id, None, None, None, None)


def _by_rc(rc_user_id: str) -> tuple[str | None, ...]:
    return (None, rc_user_id, None, None, None)


def _subject(row: LedgerSubject) -> SubjectRecord:
    return SubjectRecord(
        row.id, row.origin, row.matrix_user_id, row.rc_user_id, row.rc_username, row.erased_ms
    )


class LedgerStore:
    def __init__(
        self,
        session: AsyncSession,
        cache: UnitCache | None = None,
        refs: RefCache | None = None,
        after_commit: Callable[[Callable[[], None]], None] | None = None,
        inserts: InsertBuffer | None = None,
    ) -> None:
        self._session = session
        self._inserts = inserts
        # Subjects read in this unit of work; server and room ids for the process, learnt
        # once the transaction that saw them committed (storage.cache).
        self._cache = cache or UnitCache()
        self._refs = refs or RefCache()
        self._after_commit = after_commit

    def _remember(self, learn: Callable[[], None]) -> None:
        if self._after_commit is not None:
            self._after_commit(learn)

    # -- rooms and servers ---------------------------------------------------------------

    async def server_ref(self, name: str, kind: int) -> int:
        known = self._refs.servers.get(name)
        if known is not None:
            return known
        # Looked up first: the row exists for all but a server's first disclosure, and the
        # insert-or-ignore would cost a statement on every bridged message.
        s = self._session
        query = select(LedgerServer.id).where(LedgerServer.name == name)
        ref = await s.scalar(query)
        if ref is None:
            await s.execute(
                insert_ignoring_conflicts(s, LedgerServer.__table__).values(name=name, kind=kind)
            )
            ref = await s.scalar(query)
        assert ref is not None
        servers = self._refs.servers
        self._remember(lambda: servers.__setitem__(name, ref))
        return ref

    async def room_ref(self, room_id: str, rc_server_ref: int | None = None) -> int:
        known = self._refs.rooms.get(room_id)
        if known is not None and (known[1] or rc_server_ref is None):
            return known[0]
        s = self._session
        query = select(LedgerRoom.id, LedgerRoom.rc_server_ref).where(LedgerRoom.room_id == room_id)
        row = (await s.execute(query)).one_or_none()
        if row is None:
            await s.execute(
                insert_ignoring_conflicts(s, LedgerRoom.__table__).values(
                    room_id=room_id, rc_server_ref=rc_server_ref
                )
            )
            row = (await s.execute(query)).one()
        has_rc = row.rc_server_ref is not None
        if rc_server_ref is not None and not has_rc:
            await s.execute(
                update(LedgerRoom)
                .where(LedgerRoom.id == row.id)
                .values(rc_server_ref=rc_server_ref)
            )
            has_rc = True
        ref, learnt = int(row.id), (int(row.id), has_rc)
        self._remember(lambda: self._learn_room(room_id, learnt))
        return ref

    def _learn_room(self, room_id: str, learnt: tuple[int, bool]) -> None:
        known = self._refs.rooms.get(room_id)
        if known is None or (learnt[1] and not known[1]):
            self._refs.rooms[room_id] = learnt

    async def set_rc_room(self, room_ref: int, rc_room_id: str) -> None:
        await self._session.execute(
            update(LedgerRoom).where(LedgerRoom.id == room_ref).values(rc_room_id=rc_room_id)
        )

    async def mark_seeded(self, room_ref: int, at_ms: int) -> bool:
        """Claim the room's first-contact seeding; False when it was seeded already."""
        result = await self._session.execute(
            update(LedgerRoom)
            .where(LedgerRoom.id == room_ref, LedgerRoom.seeded_ms.is_(None))
            .values(seeded_ms=at_ms)
        )
        return rowcount(result) == 1

    # -- subjects ------------------------------------------------------------------------

    async def find_subject(
        self,
        *,
        matrix_user_id: str | None = None,
        rc_user_id: str | None = None,
        rc_username: str | None = None,
        subject_id: int | None = None,
        pseudonym: bytes | None = None,
    ) -> list[SubjectRecord]:
        """Subjects matching any one given identifier (several only for a username)."""
        key = (matrix_user_id, rc_user_id, rc_username, subject_id, pseudonym)

        async def load() -> tuple[SubjectRecord, ...]:
            return await self._find_subject(
                matrix_user_id, rc_user_id, rc_username, subject_id, pseudonym
            )

        return list(await self._cache.read(SUBJECT, key, load))

    async def read_subjects(
        self, matrix_user_ids: Collection[str], rc_user_ids: Collection[str]
    ) -> None:
        """Read the subjects of these ids in one statement, for this unit of work's later
        ``find_subject`` by either id (a batch of finished sends names a person each)."""
        mx = [m for m in set(matrix_user_ids) if not self._cache.has(SUBJECT, _by_mx(m))]
        rc = [r for r in set(rc_user_ids) if not self._cache.has(SUBJECT, _by_rc(r))]
        if not mx and not rc:
            return
        q = select(LedgerSubject).where(
            or_(LedgerSubject.matrix_user_id.in_(mx), LedgerSubject.rc_user_id.in_(rc))
        )
        rows = [_subject(r) for r in await self._session.scalars(q.order_by(LedgerSubject.id))]
        for m in mx:
            self._cache.put(SUBJECT, _by_mx(m), tuple(r for r in rows if r.matrix_user_id == m))
        for r_id in rc:
            self._cache.put(SUBJECT, _by_rc(r_id), tuple(r for r in rows if r.rc_user_id == r_id))

    async def _find_subject(
        self,
        matrix_user_id: str | None,
        rc_user_id: str | None,
        rc_username: str | None,
        subject_id: int | None,
        pseudonym: bytes | None,
    ) -> tuple[SubjectRecord, ...]:
        q = select(LedgerSubject)
        if subject_id is not None:
            q = q.where(LedgerSubject.id == subject_id)
        elif pseudonym is not None:
            q = q.where(LedgerSubject.pseudonym == pseudonym)
        elif matrix_user_id is not None:
            q = q.where(LedgerSubject.matrix_user_id == matrix_user_id)
        elif rc_user_id is not None:
            q = q.where(LedgerSubject.rc_user_id == rc_user_id)
        elif rc_username is not None:
            q = q.where(LedgerSubject.rc_username == rc_username)
        else:
            return ()
        return tuple(_subject(r) for r in await self._session.scalars(q.order_by(LedgerSubject.id)))

    async def create_subject(
        self,
        origin: int,
        *,
        matrix_user_id: str | None = None,
        rc_user_id: str | None = None,
        rc_username: str | None = None,
    ) -> int:
        self._cache.drop(SUBJECT)
        row = LedgerSubject(
            origin=origin,
            matrix_user_id=matrix_user_id,
            rc_user_id=rc_user_id,
            rc_username=rc_username,
            created_ms=now_ms(),
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def update_subject(self, subject_ref: int, **values: str | int | None) -> None:
        self._cache.drop(SUBJECT)
        await self._session.execute(
            update(LedgerSubject).where(LedgerSubject.id == subject_ref).values(**values)
        )

    async def merge_subjects(self, keep: int, drop: int) -> None:
        """Move ``drop``'s disclosures to ``keep`` and delete ``drop`` (one person, two rows)."""
        self._cache.drop(SUBJECT)
        s = self._session
        await s.execute(
            update(Disclosure).where(Disclosure.subject_ref == drop).values(subject_ref=keep)
        )
        await s.execute(delete(LedgerSubject).where(LedgerSubject.id == drop))

    async def pseudonymise_subject(self, subject_ref: int, pseudonym: bytes, at_ms: int) -> int:
        """Null the identifiers and content hashes; returns how many disclosures it touched."""
        self._cache.drop(SUBJECT)
        s = self._session
        await self.update_subject(
            subject_ref,
            matrix_user_id=None,
            rc_user_id=None,
            rc_username=None,
            pseudonym=pseudonym,  # type: ignore[arg-type]
            erased_ms=at_ms,
        )
        result = await s.execute(
            update(Disclosure)
            .where(Disclosure.subject_ref == subject_ref)
            .values(content_hash=None)
        )
        return rowcount(result)

    # -- membership and visibility timelines ---------------------------------------------

    async def set_member(
        self,
        room_ref: int,
        server_ref: int,
        user_id: str,
        membership: int,
        at_ms: int,
        *,
        formerly: Sequence[str] = (),
    ) -> None:
        """Record a user's current membership; 0 (none) deletes the row. ``formerly`` are
        other keys the same user may have been stored under by an older version (the
        raw id, a pseudonym): their rows go too."""
        s = self._session
        key = (
            LedgerMember.room_ref == room_ref,
            LedgerMember.server_ref == server_ref,
            LedgerMember.user_id.in_([user_id, *formerly]),
        )
        await s.execute(delete(LedgerMember).where(*key))
        if membership:
            s.add(
                LedgerMember(
                    room_ref=room_ref,
                    server_ref=server_ref,
                    user_id=user_id,
                    membership=membership,
                    since_ms=at_ms,
                )
            )
            await s.flush()

    async def server_presence(self, room_ref: int, server_ref: int) -> int:
        """The strongest membership among the server's users in the room (0 when none)."""
        value = await self._session.scalar(
            select(func.max(LedgerMember.membership)).where(
                LedgerMember.room_ref == room_ref, LedgerMember.server_ref == server_ref
            )
        )
        return int(value or 0)

    async def open_presence(self, room_ref: int, server_ref: int, state: int, at_ms: int) -> None:
        # (Re)open: an interval that began at the same millisecond is open again, not lost.
        s = self._session
        await s.execute(
            delete(LedgerPresence).where(
                LedgerPresence.room_ref == room_ref,
                LedgerPresence.server_ref == server_ref,
                LedgerPresence.state == state,
                LedgerPresence.from_ms == at_ms,
            )
        )
        s.add(LedgerPresence(room_ref=room_ref, server_ref=server_ref, state=state, from_ms=at_ms))
        await s.flush()

    async def close_presence(self, room_ref: int, server_ref: int, state: int, at_ms: int) -> None:
        """Close the open interval at ``at_ms`` (never before it opened; empty ones go)."""
        s = self._session
        key = (
            LedgerPresence.room_ref == room_ref,
            LedgerPresence.server_ref == server_ref,
            LedgerPresence.state == state,
            LedgerPresence.to_ms.is_(None),
        )
        await s.execute(delete(LedgerPresence).where(*key, LedgerPresence.from_ms >= at_ms))
        await s.execute(update(LedgerPresence).where(*key).values(to_ms=at_ms))

    async def presence(self, room_ref: int, server_ref: int) -> list[PresenceRecord]:
        rows = await self._session.execute(
            select(LedgerPresence.state, LedgerPresence.from_ms, LedgerPresence.to_ms)
            .where(LedgerPresence.room_ref == room_ref, LedgerPresence.server_ref == server_ref)
            .order_by(LedgerPresence.state, LedgerPresence.from_ms)
        )
        return [PresenceRecord(r.state, r.from_ms, r.to_ms) for r in rows]

    async def room_servers(self, room_ref: int) -> list[int]:
        rows = await self._session.scalars(
            select(LedgerPresence.server_ref).where(LedgerPresence.room_ref == room_ref).distinct()
        )
        return sorted(rows)

    async def set_visibility(self, room_ref: int, at_ms: int, visibility: int) -> None:
        s = self._session
        key = (LedgerVisibility.room_ref == room_ref, LedgerVisibility.from_ms == at_ms)
        await s.execute(delete(LedgerVisibility).where(*key))
        s.add(LedgerVisibility(room_ref=room_ref, from_ms=at_ms, visibility=visibility))
        await s.flush()

    async def visibility(self, room_ref: int) -> list[tuple[int, int]]:
        rows = await self._session.execute(
            select(LedgerVisibility.from_ms, LedgerVisibility.visibility)
            .where(LedgerVisibility.room_ref == room_ref)
            .order_by(LedgerVisibility.from_ms)
        )
        return [(r.from_ms, r.visibility) for r in rows]

    async def replace_reach(
        self, room_ref: int, server_ref: int, ranges: Iterable[tuple[int, int | None]]
    ) -> None:
        s = self._session
        await s.execute(
            delete(LedgerReach).where(
                LedgerReach.room_ref == room_ref, LedgerReach.server_ref == server_ref
            )
        )
        rows = [
            {"room_ref": room_ref, "server_ref": server_ref, "from_ms": a, "to_ms": b}
            for a, b in ranges
        ]
        if rows:
            await s.execute(insert(LedgerReach), rows)

    # -- disclosures ---------------------------------------------------------------------

    async def add_disclosures(self, items: Sequence[NewDisclosure]) -> None:
        """Record ``items`` with this unit of work, written together with its other new
        rows (storage.write_buffer)."""
        if not items:
            return
        # The register version in force, read by the insert itself: no extra round trip
        # per bridged message, and a change committed before this transaction is seen.
        version = (
            select(PartnerRegisterState.version)
            .where(PartnerRegisterState.id == STATE_ID)
            .scalar_subquery()
        )
        rows = [
            {
                "subject_ref": d.subject_ref,
                "room_ref": d.room_ref,
                "origin": d.origin,
                "categories": d.categories,
                "sent_ms": d.sent_ms,
                "event_id": d.event_id,
                "rc_message_id": d.rc_message_id,
                "content_hash": d.content_hash,
                "register_version": version,
            }
            for d in items
        ]
        if self._inserts is None:
            await self._session.execute(insert(Disclosure).values(rows))
            return
        for row in rows:
            self._inserts.add(Disclosure.__table__, row)

    async def prune_before(self, cutoff_ms: int, limit: int, rc_origin: int) -> int:
        """Delete up to ``limit`` disclosures sent before ``cutoff_ms``, adding them to the
        per-recipient day counts (bridge.storage.ledger_aggregate); returns how many went."""
        return await prune_into_aggregates(self._session, cutoff_ms, limit, rc_origin)
