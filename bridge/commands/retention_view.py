"""``!bridge retention``: a portal room's retention, for the people who run the room.

Shown to the room's moderators on either side (Matrix power level at least
``privacy.moderator_power_level``, or a Rocket.Chat owner/moderator) and to bridge admins,
for any portal, whichever side created its room. It names no person: the policy Rocket.Chat
applies, what the portal carries as ``m.room.retention``, the room's latest expiry and when
the next item is due (docs/retention.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from bridge.privacy.queries import LedgerQueries
from bridge.privacy.retention_policy import (
    RoomPolicy,
    effective_policy,
    read_settings,
    retention_content,
)
from bridge.storage.bridging import Portal
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.workers.retention import PolicySource


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def read_policy(source: PolicySource, portal: Portal) -> RoomPolicy | None:
    settings = await read_settings(source)
    return effective_policy(settings, await source.room_retention(portal.rc_room_id))


class RetentionView:
    def __init__(
        self,
        db: Database,
        source: Callable[[], PolicySource | None],
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._source = source
        self._clock = clock

    async def text(self, portal: Portal) -> str:
        source = self._source()
        if source is None or portal.matrix_room_id is None:
            return "The bridge cannot read Rocket.Chat's retention policy right now."
        policy = await read_policy(source, portal)
        name = portal.name or portal.rc_room_id
        if policy is None:
            return (
                f"Retention in {name}: Rocket.Chat keeps its messages (no retention policy "
                "applies), so the bridge expires nothing here."
            )
        lines = [
            f"Retention in {name}: Rocket.Chat removes {policy.describe()}.",
            _mirrored(retention_content(policy)),
        ]
        lines += await self._expiries(portal.matrix_room_id, policy)
        return "\n".join(lines)

    async def _expiries(self, room_id: str, policy: RoomPolicy) -> list[str]:
        async with self._db.unit_of_work() as uow:
            cutoff = await uow.erasure.expiry_bounds(room_id)
            latest = await uow.erasure.latest_expiry(room_id)
        out = [
            "The bridge redacts expired copies on every server in the room itself, whether "
            "or not those servers honour the room's retention event."
        ]
        if latest is not None:
            out.append(
                f"Latest expiry: {latest.id} ({latest.state.replace('_', ' ')}), items sent "
                f"before {_when(cutoff or 0)}."
            )
        now = self._clock()
        page = await LedgerQueries(self._db).room_items(room_id, cutoff or 0, now + 1, limit=1)
        if page.items:
            due = page.items[0].sent_ms + policy.max_age_ms
            out.append(f"Next expiry: from {_when(max(due, now))}.")
        else:
            out.append("Nothing bridged here is waiting to expire.")
        return out


def _mirrored(content: dict[str, int]) -> str:
    if not content:
        return "The room carries no m.room.retention (a files-only policy cannot be said)."
    return f"The Matrix room carries m.room.retention max_lifetime {content['max_lifetime']} ms."
