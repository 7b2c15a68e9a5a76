"""When a person's bridged items expire, room by room (``bridge audit subject``).

An item expires its room's max age after it was sent (bridge.privacy.expiry), so the
view is per room: the policy as the retention worker last read it (``room_retention``),
how many of the person's items there are still waiting, and the first and the last of
their expiry times. Items sent before the room's latest expiry cut-off are gone already.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.privacy.expiry import expiry_needs
from bridge.privacy.queries import LedgerQueries
from bridge.privacy.subjects import Subject
from bridge.storage.database import Database

PAGE = 1000


@dataclass(frozen=True)
class RoomExpiry:
    room_id: str
    max_age_ms: int
    files_only: bool
    pending: int  # the person's items not expired yet
    expired_before_ms: int | None  # the room's latest expiry cut-off
    first_expiry_ms: int | None  # of the pending items: the earliest, and the latest
    last_expiry_ms: int | None


async def subject_expiries(db: Database, subject: Subject) -> list[RoomExpiry]:
    """One entry per room with a policy in which the person has items."""
    async with db.unit_of_work() as uow:
        policies = {p.room_id: p for p in await uow.room_policies.all()}
    sent: dict[str, list[int]] = {}
    queries, cursor = LedgerQueries(db), None
    while True:
        page = await queries.erasure_plan(subject, after=cursor, limit=PAGE)
        for item in page.items:
            policy = policies.get(item.room_id)
            # Only what an expiry acts on (a mention or a profile item is not redacted).
            if policy is not None and any(expiry_needs(item, policy.files_only)):
                sent.setdefault(item.room_id, []).append(item.sent_ms)
        cursor = page.next
        if cursor is None:
            break
    async with db.unit_of_work() as uow:
        cutoffs = {room: await uow.erasure.expiry_bounds(room) for room in sent}
    out = []
    for room, times in sorted(sent.items()):
        policy = policies.get(room)
        if policy is None or policy.max_age_ms is None:
            continue
        waiting = [t for t in times if cutoffs[room] is None or t >= (cutoffs[room] or 0)]
        out.append(
            RoomExpiry(
                room,
                policy.max_age_ms,
                policy.files_only,
                len(waiting),
                cutoffs[room],
                min(waiting) + policy.max_age_ms if waiting else None,
                max(waiting) + policy.max_age_ms if waiting else None,
            )
        )
    return out
