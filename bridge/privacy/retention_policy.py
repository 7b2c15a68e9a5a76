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
from typing import Any

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


def effective_policy(settings: Mapping[str, Any], room: Mapping[str, Any]) -> RoomPolicy | None:
    """The policy Rocket.Chat prunes ``room`` (its ``t`` and ``retention``) by, or None."""
    if settings.get("RetentionPolicy_Enabled") is not True:
        return None
    own = room.get("retention")
    own = own if isinstance(own, Mapping) else {}
    if own.get("enabled") is True and own.get("overrideGlobal") is True:
        days = _number(own.get("maxAge"))
        days = days if days is not None and days > 0 else 30.0
        return RoomPolicy(round(days * DAY_MS), own.get("filesOnly") is True, "room")
    if own.get("enabled") is False or own.get("overrideGlobal") is True:
        return None
    kind = _KIND.get(str(room.get("t", "")))
    if kind is None or settings.get(f"RetentionPolicy_AppliesTo{kind}") is not True:
        return None
    ttl = _number(settings.get(f"RetentionPolicy_TTL_{kind}"))
    if ttl is None or ttl <= 0:
        return None
    return RoomPolicy(round(ttl), settings.get("RetentionPolicy_FilesOnly") is True, "global")


def retention_content(policy: RoomPolicy | None) -> dict[str, int]:
    """The ``m.room.retention`` content for ``policy``. A files-only policy keeps the
    messages, which MSC1763 cannot say: no ``max_lifetime`` then."""
    if policy is None or policy.files_only:
        return {}
    return {"max_lifetime": policy.max_age_ms}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _age_text(ms: int) -> str:
    for unit, size in (("day", DAY_MS), ("hour", 3_600_000), ("minute", 60_000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms / 1000:g} seconds"
