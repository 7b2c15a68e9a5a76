"""Reads and writes of the ``!privacy`` commands, inside the caller's transaction
(``uow.commands``). Plain values in and out; the rules live in ``bridge.commands``."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.bridging_rows import PortalRow
from bridge.storage.cache import NOTICE, OPT_OUT, UnitCache
from bridge.storage.commands_rows import (
    CommandRateRow,
    CommandRoomRow,
    ConfirmationRow,
    NoticeShownRow,
    OptOutRow,
    RequestWatchRow,
)
from bridge.storage.common import insert_ignoring_conflicts, now_ms, rowcount


@dataclass(frozen=True)
class PersonName:
    """How rows keyed by a person name them: ``stored`` is what is written (chosen by
    ``bridge.privacy.pseudonyms.person_name``, the person's pseudonym where the keys are
    configured), and lookups also match ``older``, the forms older versions wrote (the
    plain id, a pseudonym keyed with ``privacy.hash_key``), so such rows need no
    rewriting."""

    stored: str
    older: tuple[str, ...] = ()

    def forms(self) -> list[str]:
        return sorted({self.stored, *self.older})


@dataclass(frozen=True)
class RoomKnowledge:
    is_dm: bool
    user_id: str | None


@dataclass(frozen=True)
class Confirmation:
    id: int
    person: str
    code_hash: str
    purpose: str
    payload: str
    expires_ms: int
    attempts: int
    used_ms: int | None


@dataclass(frozen=True)
class Watch:
    request_id: str
    side: str
    room_id: str
    last_state: str


class CommandStore:
    """Rows keyed by a person (codes, opt-outs, the notice, the rate) are written under
    the ``PersonName`` the caller gives: the privacy package decides how a person is
    named in records that outlive their erasure, the store only keeps it."""

    def __init__(self, session: AsyncSession, cache: UnitCache | None = None) -> None:
        self._s = session
        # Opt-outs and notices read in this unit of work (storage.cache).
        self._cache = cache or UnitCache()

    # -- rooms commands were typed in -----------------------------------------------------

    async def room(self, side: str, room_id: str) -> RoomKnowledge | None:
        row = await self._s.get(CommandRoomRow, (side, room_id))
        return None if row is None else RoomKnowledge(row.is_dm, row.user_id)

    async def set_room(self, side: str, room_id: str, *, is_dm: bool, user_id: str | None) -> None:
        row = await self._s.get(CommandRoomRow, (side, room_id))
        if row is None:
            row = CommandRoomRow(side=side, room_id=room_id, since_ms=now_ms())
            self._s.add(row)
        row.is_dm, row.user_id = is_dm, user_id
        await self._s.flush()

    async def forget_room(self, side: str, room_id: str) -> None:
        await self._s.execute(
            delete(CommandRoomRow).where(
                CommandRoomRow.side == side, CommandRoomRow.room_id == room_id
            )
        )

    async def dm_rooms(self, side: str) -> list[str]:
        rows = await self._s.scalars(
            select(CommandRoomRow.room_id).where(
                CommandRoomRow.side == side, CommandRoomRow.is_dm.is_(True)
            )
        )
        return list(rows)

    async def dm_of(self, side: str, user_id: str) -> str | None:
        """The newest known DM room with ``user_id``."""
        return await self._s.scalar(
            select(CommandRoomRow.room_id)
            .where(
                CommandRoomRow.side == side,
                CommandRoomRow.user_id == user_id,
                CommandRoomRow.is_dm.is_(True),
            )
            .order_by(CommandRoomRow.since_ms.desc())
            .limit(1)
        )

    async def portal_id_by_name(self, name: str) -> int | None:
        return await self._s.scalar(select(PortalRow.id).where(PortalRow.name == name).limit(1))

    # -- confirmation codes ----------------------------------------------------------------

    async def add_confirmation(
        self, person: PersonName, code_hash: str, purpose: str, payload: str, expires_ms: int
    ) -> None:
        # One live code per person and purpose: a new request replaces the old one.
        await self._s.execute(
            update(ConfirmationRow)
            .where(
                ConfirmationRow.person.in_(person.forms()),
                ConfirmationRow.purpose == purpose,
                ConfirmationRow.used_ms.is_(None),
            )
            .values(used_ms=now_ms())
        )
        self._s.add(
            ConfirmationRow(
                person=person.stored,
                code_hash=code_hash,
                purpose=purpose,
                payload=payload,
                created_ms=now_ms(),
                expires_ms=expires_ms,
                attempts=0,
            )
        )
        await self._s.flush()

    async def live_confirmation(self, person: PersonName, purpose: str) -> Confirmation | None:
        row = await self._s.scalar(
            select(ConfirmationRow)
            .where(
                ConfirmationRow.person.in_(person.forms()),
                ConfirmationRow.purpose == purpose,
                ConfirmationRow.used_ms.is_(None),
            )
            .order_by(ConfirmationRow.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        return Confirmation(
            row.id,
            row.person,
            row.code_hash,
            row.purpose,
            row.payload,
            row.expires_ms,
            row.attempts,
            row.used_ms,
        )

    async def count_attempt(self, confirmation_id: int) -> None:
        await self._s.execute(
            update(ConfirmationRow)
            .where(ConfirmationRow.id == confirmation_id)
            .values(attempts=ConfirmationRow.attempts + 1)
        )

    async def use_confirmation(self, confirmation_id: int) -> bool:
        """Mark used; False when it already was (single use, even under a race)."""
        result = await self._s.execute(
            update(ConfirmationRow)
            .where(ConfirmationRow.id == confirmation_id, ConfirmationRow.used_ms.is_(None))
            .values(used_ms=now_ms())
        )
        return rowcount(result) > 0

    # -- opt-out and the one-time notice ---------------------------------------------------

    async def read_people(self, people: Collection[PersonName]) -> None:
        """Read these people's opt-outs and privacy notices, one statement each, for this
        unit of work's later :meth:`opted_out_since` and :meth:`notice_shown_at` (the
        senders of an inbox batch)."""
        kinds = (
            (OPT_OUT, OptOutRow.person, OptOutRow.since_ms),
            (NOTICE, NoticeShownRow.person, NoticeShownRow.shown_ms),
        )
        for kind, name, when in kinds:
            wanted = [p for p in people if not self._cache.has(kind, tuple(p.forms()))]
            if not wanted:
                continue
            forms = sorted({f for p in wanted for f in p.forms()})
            rows = await self._s.execute(select(name, when).where(name.in_(forms)))
            at: dict[str, int] = {}
            for person, ms in rows:
                at[person] = min(ms, at.get(person, ms))
            for p in wanted:
                times = [at[f] for f in p.forms() if f in at]
                self._cache.put(kind, tuple(p.forms()), min(times) if times else None)

    async def opted_out(self, person: PersonName) -> bool:
        return await self.opted_out_since(person) is not None

    async def set_opt_out(self, person: PersonName, opted_out: bool) -> bool:
        """Returns whether anything changed."""
        if opted_out:
            if await self.opted_out(person):
                return False
            self._cache.drop(OPT_OUT)
            stmt = insert_ignoring_conflicts(self._s, OptOutRow).values(
                person=person.stored, since_ms=now_ms()
            )
            return rowcount(await self._s.execute(stmt)) > 0
        self._cache.drop(OPT_OUT)
        result = await self._s.execute(
            delete(OptOutRow).where(OptOutRow.person.in_(person.forms()))
        )
        return rowcount(result) > 0

    async def opted_out_since(self, person: PersonName) -> int | None:
        forms = tuple(person.forms())

        async def load() -> int | None:
            return await self._s.scalar(
                select(func.min(OptOutRow.since_ms)).where(OptOutRow.person.in_(forms))
            )

        return await self._cache.read(OPT_OUT, forms, load)

    async def mark_notice_shown(self, person: PersonName) -> bool:
        """True the first time only: the caller sends the notice exactly then."""
        if await self.notice_shown_at(person) is not None:
            return False
        self._cache.drop(NOTICE)
        stmt = insert_ignoring_conflicts(self._s, NoticeShownRow).values(
            person=person.stored, shown_ms=now_ms()
        )
        return rowcount(await self._s.execute(stmt)) > 0

    async def notice_shown_at(self, person: PersonName) -> int | None:
        forms = tuple(person.forms())

        async def load() -> int | None:
            return await self._s.scalar(
                select(func.min(NoticeShownRow.shown_ms)).where(NoticeShownRow.person.in_(forms))
            )

        return await self._cache.read(NOTICE, forms, load)

    # -- rate ------------------------------------------------------------------------------

    async def count_command(self, person: PersonName, window_ms: int) -> int:
        """Count one command in the window starting at ``window_ms``; returns the count."""
        row = await self._s.get(CommandRateRow, person.stored, with_for_update=True)
        if row is None:
            stmt = insert_ignoring_conflicts(self._s, CommandRateRow).values(
                person=person.stored, window_ms=window_ms, count=1
            )
            if rowcount(await self._s.execute(stmt)) > 0:
                return 1
            row = await self._s.get(CommandRateRow, person.stored, with_for_update=True)
            assert row is not None
        if row.window_ms != window_ms:
            row.window_ms, row.count = window_ms, 0
        row.count += 1
        await self._s.flush()
        return row.count

    # -- watched requests --------------------------------------------------------------------

    async def watch(self, request_id: str, side: str, room_id: str, state: str) -> None:
        stmt = insert_ignoring_conflicts(self._s, RequestWatchRow).values(
            request_id=request_id,
            side=side,
            room_id=room_id,
            last_state=state,
            finished=False,
            created_ms=now_ms(),
        )
        await self._s.execute(stmt)

    async def open_watches(self, limit: int = 200) -> list[Watch]:
        rows = await self._s.scalars(
            select(RequestWatchRow)
            .where(RequestWatchRow.finished.is_(False))
            .order_by(RequestWatchRow.created_ms)
            .limit(limit)
        )
        return [Watch(r.request_id, r.side, r.room_id, r.last_state) for r in rows]

    async def watches_for(self, room_ids: list[str]) -> list[Watch]:
        rows = await self._s.scalars(
            select(RequestWatchRow).where(RequestWatchRow.room_id.in_(room_ids))
        )
        return [Watch(r.request_id, r.side, r.room_id, r.last_state) for r in rows]

    async def advance_watch(self, request_id: str, from_state: str, state: str) -> bool:
        """Conditional: False when another worker already reported this change."""
        result = await self._s.execute(
            update(RequestWatchRow)
            .where(
                RequestWatchRow.request_id == request_id,
                RequestWatchRow.last_state == from_state,
            )
            .values(last_state=state)
        )
        return rowcount(result) > 0

    async def finish_watch(self, request_id: str) -> None:
        """The final report is queued: the watch has no further use, and its room may be a
        Rocket.Chat DM, whose id is made of its members' user ids, so it goes."""
        await self._s.execute(
            delete(RequestWatchRow).where(RequestWatchRow.request_id == request_id)
        )
