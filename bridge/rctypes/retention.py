"""A Rocket.Chat room's own retention fields, as ``rooms.info`` returns them.

``rooms.saveRoomSettings`` stores them under the room's ``retention``: ``enabled``,
``overrideGlobal``, ``maxAge`` (days, a fraction allowed) and ``filesOnly``. Whether each
flag is set, and to what, matters (a room with ``enabled: false`` is never pruned, one
without it follows the global settings), so a flag that is absent stays ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class RCRoomRetention:
    kind: str  # the room's ``t``: c (channel), p (group), d (direct)
    enabled: bool | None = None
    override_global: bool | None = None
    max_age_days: float | None = None
    files_only: bool = False

    @classmethod
    def parse(cls, room: Mapping[str, object]) -> RCRoomRetention:
        """From a ``rooms.info`` room; its ``retention`` may be missing or malformed."""
        own = room.get("retention")
        if not isinstance(own, Mapping):
            own = {}
        return cls(
            str(room.get("t", "")),
            _flag(own.get("enabled")),
            _flag(own.get("overrideGlobal")),
            number(own.get("maxAge")),
            own.get("filesOnly") is True,
        )


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def number(value: object) -> float | None:
    """A setting's number: Rocket.Chat stores some as strings."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
