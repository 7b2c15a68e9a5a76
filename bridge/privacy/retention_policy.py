"""A Rocket.Chat room's effective retention policy, and its Matrix form.

Which policy applies follows Rocket.Chat's pruning job
(apps/meteor/app/retention-policy/server/cronPruneMessages.ts, docs/rocketchat-notes.md):
nothing while ``RetentionPolicy_Enabled`` is off; a room whose ``retention`` has both
``enabled`` and ``overrideGlobal`` uses its own ``maxAge`` (days, a fraction allowed); a
room whose ``retention.enabled`` is ``false`` is never pruned; any other room is pruned by
its type (``RetentionPolicy_AppliesTo{Channels,Groups,DMs}``) after the global TTL
(``RetentionPolicy_TTL_*``, milliseconds).

The Matrix form is MSC1763's ``m.room.retention`` state event, ``{"max_lifetime": ms}``
(Synapse ``synapse/handlers/pagination.py`` purges by it when its own retention support
is on); an empty content says the room has no policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import attrs

from bridge.rctypes.retention import RCRoomRetention, number

DAY_MS = 86_400_000
RETENTION_EVENT = "m.room.retention"
_KIND = {"c": "Channels", "p": "Groups", "d": "DMs"}
# The global settings the policy depends on (read with ``GET settings/:_id``).
SETTINGS = (
    "RetentionPolicy_Enabled",
    *(f"RetentionPolicy_AppliesTo{k}" for k in _KIND.values()),
    *(f"RetentionPolicy_TTL_{k}" for k in _KIND.values()),
    "RetentionPolicy_FilesOnly",
)


@dataclass(frozen=True)
class RoomPolicy:
    max_age_ms: int
    files_only: bool
    source: str  # "room" (the room's override) or "global" (the settings by room type)

    def describe(self) -> str:
        what = "files" if self.files_only else "messages"
        return f"{what} older than {_age_text(self.max_age_ms)} ({self.source} policy)"


@attrs.frozen
class RetentionSettings:
    """Rocket.Chat's global retention settings (:data:`SETTINGS`)."""

    enabled: bool = False
    applies_to: frozenset[str] = frozenset()  # room types (c, p, d) the global policy covers
    ttl_ms: Mapping[str, float] = attrs.field(factory=dict)  # by room type, when set
    files_only: bool = False

    @classmethod
    def parse(cls, values: Mapping[str, object]) -> RetentionSettings:
        """From each setting's value by its id (``GET settings/:_id``)."""
        ttl = {t: number(values.get(f"RetentionPolicy_TTL_{k}")) for t, k in _KIND.items()}
        return cls(
            values.get("RetentionPolicy_Enabled") is True,
            frozenset(
                t for t, k in _KIND.items() if values.get(f"RetentionPolicy_AppliesTo{k}") is True
            ),
            {t: v for t, v in ttl.items() if v is not None},
            values.get("RetentionPolicy_FilesOnly") is True,
        )


class SettingSource(Protocol):
    async def setting(self, setting_id: str) -> object: ...


async def read_settings(source: SettingSource) -> RetentionSettings:
    return RetentionSettings.parse({key: await source.setting(key) for key in SETTINGS})


def effective_policy(settings: RetentionSettings, room: RCRoomRetention) -> RoomPolicy | None:
    """The policy Rocket.Chat prunes ``room`` by, or None."""
    if not settings.enabled:
        return None
    if room.enabled is True and room.override_global is True:
        days = room.max_age_days
        days = days if days is not None and days > 0 else 30.0
        return RoomPolicy(round(days * DAY_MS), room.files_only, "room")
    if room.enabled is False or room.override_global is True:
        return None
    if room.kind not in settings.applies_to:
        return None
    ttl = settings.ttl_ms.get(room.kind)
    if ttl is None or ttl <= 0:
        return None
    return RoomPolicy(round(ttl), settings.files_only, "global")


def retention_content(policy: RoomPolicy | None) -> dict[str, int]:
    """The ``m.room.retention`` content for ``policy``. A files-only policy keeps the
    messages, which MSC1763 cannot say: no ``max_lifetime`` then."""
    if policy is None or policy.files_only:
        return {}
    return {"max_lifetime": policy.max_age_ms}


def _age_text(ms: int) -> str:
    for unit, size in (("day", DAY_MS), ("hour", 3_600_000), ("minute", 60_000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms / 1000:g} seconds"
