"""Subjects: one person across both sides, whichever identity an item names.

A Rocket.Chat user's Matrix ghost and a Matrix user's Rocket.Chat shadow user are the
same person as the account they stand for, so a mention of either resolves to one subject
(GDPR Art. 15 asks about *the person's* data, not about one of their accounts).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.ids import RCUserID, RCUsername, UserID
from bridge.privacy.categories import Origin
from bridge.storage.ledger import LedgerStore, SubjectRecord


@dataclass(frozen=True)
class RCPerson:
    user_id: RCUserID
    username: RCUsername | None = None


@dataclass(frozen=True)
class MatrixPerson:
    user_id: UserID


Person = RCPerson | MatrixPerson


@dataclass(frozen=True)
class Subject:
    id: int
    origin: Origin
    matrix_user_id: UserID | None
    rc_user_id: RCUserID | None
    rc_username: RCUsername | None
    erased_ms: int | None

    @classmethod
    def of(cls, r: SubjectRecord) -> Subject:
        return cls(
            r.id,
            Origin(r.origin),
            None if r.matrix_user_id is None else UserID(r.matrix_user_id),
            None if r.rc_user_id is None else RCUserID(r.rc_user_id),
            None if r.rc_username is None else RCUsername(r.rc_username),
            r.erased_ms,
        )


async def subject_ref(store: LedgerStore, person: Person) -> int:
    """The subject of ``person``, created on first sight."""
    if isinstance(person, MatrixPerson):
        found = await store.find_subject(matrix_user_id=person.user_id)
        if found:
            return found[0].id
        return await store.create_subject(Origin.MATRIX, matrix_user_id=person.user_id)
    found = await store.find_subject(rc_user_id=person.user_id)
    if found:
        if person.username is not None and found[0].rc_username != person.username:
            await store.update_subject(found[0].id, rc_username=person.username)
        return found[0].id
    return await store.create_subject(
        Origin.ROCKETCHAT, rc_user_id=person.user_id, rc_username=person.username
    )


async def link(
    store: LedgerStore,
    origin: Origin,
    matrix_user_id: UserID,
    rc_user_id: RCUserID,
    rc_username: RCUsername | None,
) -> int:
    """Record that ``matrix_user_id`` and ``rc_user_id`` are one person; returns the subject.

    Both may already be subjects of their own (e.g. mentioned before the shadow user or
    ghost was created): their disclosures then move to one subject and the other goes.
    """
    by_mx = await store.find_subject(matrix_user_id=matrix_user_id)
    by_rc = await store.find_subject(rc_user_id=rc_user_id)
    if by_mx and by_rc and by_mx[0].id != by_rc[0].id:
        keep, drop = (by_mx[0], by_rc[0]) if origin is Origin.MATRIX else (by_rc[0], by_mx[0])
        await store.merge_subjects(keep.id, drop.id)
        ref = keep.id
    elif by_mx or by_rc:
        ref = (by_mx or by_rc)[0].id
    else:
        return await store.create_subject(
            origin, matrix_user_id=matrix_user_id, rc_user_id=rc_user_id, rc_username=rc_username
        )
    await store.update_subject(
        ref,
        origin=int(origin),
        matrix_user_id=matrix_user_id,
        rc_user_id=rc_user_id,
        **({"rc_username": rc_username} if rc_username is not None else {}),
    )
    return ref


def identity(subject: SubjectRecord) -> str:
    """The id a subject's pseudonym is computed from (``bridge.privacy.pseudonyms``).

    It is the account on the person's own side (not their ghost or shadow), the one they
    act from: so the audit log, which names actors the same way from the start, names
    them by this very pseudonym. It lets a returning requester be told "erased on …"
    (accountability, GDPR Art. 5(2)) while the ledger itself no longer names them, until
    the person's key is shredded."""
    own = subject.rc_user_id if subject.origin == Origin.ROCKETCHAT else subject.matrix_user_id
    return own or subject.matrix_user_id or subject.rc_user_id or f"subject:{subject.id}"
