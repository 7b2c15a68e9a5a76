"""Forgetting one person after their erasure (``uow.forget``), in the caller's transaction.

Every table that can hold a person's ids is visited here, so a table added later has one
place to be added to (and ``tests/erasure/test_erase_identity.py`` scans them all). Ids
are replaced by the person's pseudonym where the row is still evidence (the request log,
the opt-out), and rows with no further use are deleted (the ghost or shadow row, a DM's
classification, confirmation codes, the command rate). Plain values in; the decisions
about *whom* to forget live in ``bridge.privacy.forget``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bridge.storage.bridging_rows import (
    GhostRow,
    MessageRow,
    PersonaRow,
    ReactionRow,
    ShadowRow,
)
from bridge.storage.cache import UnitCache
from bridge.storage.commands_rows import (
    CommandRateRow,
    CommandRoomRow,
    ConfirmationRow,
    NoticeShownRow,
    OptOutRow,
)
from bridge.storage.common import insert_ignoring_conflicts, rowcount
from bridge.storage.erasure_rows import (
    ErasureItemRow,
    ErasureLogRow,
    ErasureRecipientRow,
    ErasureRequestRow,
    ErasureStepRow,
)
from bridge.storage.ledger_rows import LedgerMember
from bridge.storage.models import Cursor, InboxEvent, OutboxAction
from bridge.storage.outbox import storage_key

PENDING = "pending"
MODERATOR = "moderator:"
NAME_PREFIX = "pseudonym:"  # the request's ``pseudonym`` column holds the hex part only


@dataclass(frozen=True)
class Traces:
    """What the bridge still holds about a person beyond the ledger (read before forgetting)."""

    ghost_matrix_id: str | None
    ghost_display_name: str | None
    shadow_rc_id: str | None
    shadow_username: str | None
    shadow_display_name: str | None


class ForgetStore:
    def __init__(self, session: AsyncSession, cache: UnitCache | None = None) -> None:
        self._s = session
        # It renames and deletes ghosts, shadows, subjects and opt-outs behind the other
        # stores' backs: every write drops what this unit of work had read (storage.cache).
        self._cache = cache or UnitCache()

    async def traces(self, rc_user_id: str | None, matrix_user_id: str | None) -> Traces:
        ghost = None if rc_user_id is None else await self._s.get(GhostRow, rc_user_id)
        shadow = None if matrix_user_id is None else await self._s.get(ShadowRow, matrix_user_id)
        return Traces(
            ghost_matrix_id=None if ghost is None else ghost.matrix_user_id,
            ghost_display_name=None if ghost is None else ghost.display_name,
            shadow_rc_id=None if shadow is None else shadow.rc_user_id,
            shadow_username=None if shadow is None else shadow.rc_username,
            shadow_display_name=None if shadow is None else shadow.display_name,
        )

    async def request_log(self, ids: Sequence[str], name: str) -> int:
        """The request log names the person by ``name``: as requester, as the actor of
        any step (also ``moderator:<id>``), as the ghost that redacted, and in free text;
        earlier finished requests about them (denied, cancelled, room-scoped) name their
        subject by the pseudonym only, like this one. Open requests keep the ids they
        are executing with."""
        self._cache.clear()
        s, n = self._s, 0
        ids = list(ids)
        r = ErasureRequestRow
        result = await s.execute(
            update(r)
            .where(
                r.finished_ms.is_not(None),
                or_(r.subject_matrix_id.in_(ids), r.subject_rc_id.in_(ids)),
            )
            .values(
                subject_matrix_id=None,
                subject_rc_id=None,
                subject_rc_username=None,
                pseudonym=name.removeprefix(NAME_PREFIX),
            )
        )
        n += rowcount(result)
        n += await self._set(ErasureRequestRow.requester, ids, name)
        n += await self._set(ErasureLogRow.actor, ids, name)
        n += await self._set(ErasureLogRow.actor, [MODERATOR + i for i in ids], MODERATOR + name)
        n += await self._set(ErasureItemRow.redactor, ids, name)
        for column in (
            ErasureLogRow.detail,
            ErasureStepRow.detail,
            ErasureStepRow.data,
            ErasureRecipientRow.detail,
        ):
            for i in _longest_first(ids):
                result = await s.execute(
                    update(column.class_)
                    .where(column.contains(i, autoescape=True))
                    .values({column.key: func.replace(column, i, name)})
                )
                n += rowcount(result)
        return n

    async def bridging(
        self,
        rc_user_id: str | None,
        matrix_user_id: str | None,
        ids: Sequence[str],
        usernames: Sequence[str],
        name: str,
    ) -> int:
        """Drop the ghost or shadow row and the personas' (their profiles were scrubbed;
        nothing needs them any more, and a later message of the person makes new ones)
        and rename the person in
        the message and reaction maps, which stay as evidence of what was erased."""
        self._cache.clear()
        s, n = self._s, 0
        if rc_user_id is not None:
            n += rowcount(
                await s.execute(delete(GhostRow).where(GhostRow.rc_user_id == rc_user_id))
            )
            # Their personas' rows are the one link from a persona to the person; the
            # persona's id stays on the messages it sent (it names a pseudonym only).
            n += rowcount(
                await s.execute(delete(PersonaRow).where(PersonaRow.rc_user_id == rc_user_id))
            )
        if matrix_user_id is not None:
            n += rowcount(
                await s.execute(delete(ShadowRow).where(ShadowRow.matrix_user_id == matrix_user_id))
            )
        # A Rocket.Chat reaction names its sender by username (chat.react's reactions map).
        senders = list(ids) + list(usernames)
        n += await self._set(MessageRow.sender, senders, name)
        n += await self._set(ReactionRow.sender, senders, name)
        return n

    async def commands(self, ids: Sequence[str], moves: dict[str, str]) -> int:
        """DM classifications, codes and the rate go; the opt-out and the notice stay,
        moved from each earlier form of the person (``moves``' keys: the id, or the
        pseudonym an older version keyed with ``privacy.hash_key``) to the current one."""
        self._cache.clear()
        s, n = self._s, 0
        every_form = sorted(set(moves) | set(moves.values()))
        n += rowcount(
            await s.execute(delete(CommandRoomRow).where(CommandRoomRow.user_id.in_(list(ids))))
        )
        for row in (ConfirmationRow, CommandRateRow):
            n += rowcount(await s.execute(delete(row).where(row.person.in_(every_form))))
        for old, new in sorted(moves.items()):
            if old == new:
                continue
            optout = await s.get(OptOutRow, old)
            if optout is not None:
                await s.execute(
                    insert_ignoring_conflicts(s, OptOutRow).values(
                        person=new, since_ms=optout.since_ms
                    )
                )
            notice = await s.get(NoticeShownRow, old)
            if notice is not None:
                await s.execute(
                    insert_ignoring_conflicts(s, NoticeShownRow).values(
                        person=new, shown_ms=notice.shown_ms
                    )
                )
            for kept in (OptOutRow, NoticeShownRow):
                n += rowcount(await s.execute(delete(kept).where(kept.person == old)))
        return n

    async def ledger_members(self, moves: dict[str, str]) -> int:
        """Memberships still open (the person is still in a room) stored under an earlier
        form (the id, or an older version's pseudonym) move to the member tag; only the
        server matters to the ledger's timelines."""
        self._cache.clear()
        s, n = self._s, 0
        rows = (
            await s.execute(select(LedgerMember).where(LedgerMember.user_id.in_(list(moves))))
        ).scalars()
        for row in list(rows):
            values = {
                "room_ref": row.room_ref,
                "server_ref": row.server_ref,
                "user_id": moves[row.user_id],
                "membership": row.membership,
                "since_ms": row.since_ms,
            }
            await s.delete(row)
            await s.flush()
            await s.execute(insert_ignoring_conflicts(s, LedgerMember).values(**values))
            n += 1
        return n

    async def queues(self, ids: Sequence[str], names: Sequence[str], name: str) -> int:
        """Finished inbox events and outbox actions (done, skipped, failed) that name the
        person lose their payload, result and error; keys and queue names holding an id
        name the pseudonym instead. Pending rows are left to run."""
        self._cache.clear()
        s, n = self._s, 0
        for table in (InboxEvent, OutboxAction):
            match = _mentions(table.payload, ids, names)
            values: dict[str, object] = {"payload": "{}", "last_error": None}
            if table is OutboxAction:
                values["result"] = None
                match = or_(match, _mentions(OutboxAction.result, ids, names))
            result = await s.execute(
                update(table).where(table.status != PENDING, match).values(**values)
            )
            n += rowcount(result)
        for i in _longest_first(ids):
            # A Rocket.Chat DM's id is its members' ids put together: a finished event in
            # it keeps no room id, and the catch-up cursor of a DM that is no longer
            # followed (its classification went above) goes.
            held = InboxEvent.room_id.contains(i, autoescape=True)
            result = await s.execute(
                update(InboxEvent).where(InboxEvent.status != PENDING, held).values(room_id=None)
            )
            n += rowcount(result)
            result = await s.execute(delete(Cursor).where(Cursor.name.contains(i, autoescape=True)))
            n += rowcount(result)
        for i in _longest_first(ids):
            n += await self._rename(OutboxAction.queue, i, name)
            n += await self._rename_keys(OutboxAction.key.contains(i, autoescape=True), i, name)
        for word in names:
            # A name is matched only as a whole ":"-separated part of a key (e.g. a
            # reaction's "rc-react:<message>:<emoji>:<username>:<ts>"): a short name
            # must not rewrite other keys it happens to be a substring of.
            like = _escaped(word)
            for pattern, old, new in (
                (f"%:{like}:%", f":{word}:", f":{name}:"),
                (f"%:{like}", f":{word}", f":{name}"),
            ):
                matched = OutboxAction.queue.like(pattern, escape="\\")
                result = await s.execute(
                    update(OutboxAction)
                    .where(OutboxAction.status != PENDING, matched)
                    .values(queue=func.replace(OutboxAction.queue, old, new))
                )
                n += rowcount(result)
                keys = OutboxAction.key.like(pattern, escape="\\")
                n += await self._rename_keys(keys, old, new, at_end=not pattern.endswith("%"))
        return n

    async def _rename(self, column: InstrumentedAttribute[str], old: str, new: str) -> int:
        result = await self._s.execute(
            update(OutboxAction)
            .where(OutboxAction.status != PENDING, column.contains(old, autoescape=True))
            .values({column.key: func.replace(column, old, new)})
        )
        return rowcount(result)

    async def _rename_keys(
        self, match: ColumnElement[bool], old: str, new: str, *, at_end: bool = False
    ) -> int:
        """Rename finished actions' keys one by one. A renamed key may already be held:
        a second erasure of the same person repeats actions of the first (the same
        profile scrub), whose key the first already renamed. The older row keeps the key
        and the newer finished one goes; a bulk UPDATE broke the key's uniqueness there,
        and the request's finishing transaction failed on every try."""
        s = self._s
        rows = (
            await s.execute(
                select(OutboxAction.id, OutboxAction.key).where(
                    OutboxAction.status != PENDING, match
                )
            )
        ).all()
        n = 0
        for row_id, key in rows:
            renamed = key[: -len(old)] + new if at_end else key.replace(old, new)
            renamed = storage_key(renamed)
            if renamed == key:
                continue
            held = await s.scalar(select(OutboxAction.id).where(OutboxAction.key == renamed))
            if held is None:
                await s.execute(
                    update(OutboxAction).where(OutboxAction.id == row_id).values(key=renamed)
                )
            else:
                await s.execute(delete(OutboxAction).where(OutboxAction.id == row_id))
            n += 1
        return n

    async def _set(self, column: InstrumentedAttribute[Any], old: list[str], new: str) -> int:
        """``column = new`` where it is exactly one of ``old``."""
        result = await self._s.execute(
            update(column.class_).where(column.in_(old)).values({column.key: new})
        )
        return rowcount(result)


def _longest_first(values: Sequence[str]) -> list[str]:
    # A username is part of its ghost's Matrix id: replace the longer id first.
    return sorted({v for v in values if v}, key=len, reverse=True)


def _mentions(
    column: InstrumentedAttribute[Any], ids: Sequence[str], names: Sequence[str]
) -> ColumnElement[bool]:
    """An id anywhere; a name only as a whole JSON string or an @-mention (short names
    are substrings of much else)."""
    clauses = [column.contains(i, autoescape=True) for i in ids if i]
    for word in names:
        if word:
            clauses.append(column.contains(f'"{word}"', autoescape=True))
            clauses.append(column.contains(f"@{word}", autoescape=True))
    return or_(*clauses) if clauses else false()


def _escaped(word: str) -> str:
    """``word`` for a LIKE pattern with ``\\`` as the escape character."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
