"""Which servers received an item: pure logic over a room's timelines (no database).

A room has, per server, *presence intervals* and, for the room, *history-visibility change
points*. From them :func:`reach` derives the ranges of send times whose items a server
received. The recipient rule follows Synapse's ``filter_events_for_server`` (the server
side of the Matrix spec's "History visibility" rules): a server may fetch an event when
visibility at the event was ``shared``/``world_readable``, or ``invited`` and one of its
users was invited or joined at the event, or ``joined`` and one of its users was joined.
A server can only fetch anything while it has a joined member, so:

    server S received an item sent at t  ⇔
        S was joined at t
     or S is joined at some time ≥ t, and
          visibility(t) ∈ {shared, world_readable}
       or visibility(t) = invited and S was invited or joined at t.

A server that leaves keeps what it received (its copies remain; GDPR Art. 17(2) still
applies to them), so reach only ever grows for past items.

Time conventions: an event at ``ts`` is in effect from ``ts`` on; state at ``t`` is the
result of every event with ``ts ≤ t``. Intervals are half-open ``[from_ms, to_ms)``, with
``to_ms=None`` for "still open". Times start at :data:`EPOCH`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EPOCH = 0


class Visibility(enum.IntEnum):
    WORLD_READABLE = 1
    SHARED = 2
    INVITED = 3
    JOINED = 4

    @classmethod
    def parse(cls, value: object) -> Visibility:
        # The spec's default when the room has no history_visibility event is "shared";
        # an unknown value is treated the same way, the reading that names more recipients.
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        return cls.SHARED


# Items in a period of these visibilities reach every server that joins later.
OPEN_HISTORY = frozenset({Visibility.WORLD_READABLE, Visibility.SHARED})


class Presence(enum.IntEnum):
    """A server's state in a room: the strongest membership among its users."""

    NONE = 0
    INVITED = 1
    JOINED = 2

    @classmethod
    def of_membership(cls, membership: str) -> Presence:
        # leave, ban and knock give no access to room events.
        return {"join": cls.JOINED, "invite": cls.INVITED}.get(membership, cls.NONE)


@dataclass(frozen=True)
class Interval:
    from_ms: int
    to_ms: int | None = None

    def contains(self, t: int) -> bool:
        return self.from_ms <= t and (self.to_ms is None or t < self.to_ms)


@dataclass(frozen=True)
class VisibilityChange:
    from_ms: int
    visibility: Visibility


@dataclass(frozen=True)
class ServerTimeline:
    """``joined``: intervals with a joined user; ``aware``: with an invited or joined one."""

    joined: tuple[Interval, ...] = ()
    aware: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class Transition:
    """Which interval kinds open and close when a server's presence changes."""

    opens: tuple[Presence, ...]
    closes: tuple[Presence, ...]


def transition(old: Presence, new: Presence) -> Transition:
    """Interval kinds (keyed by the presence they track) to open and close on ``old → new``."""
    opens: list[Presence] = []
    closes: list[Presence] = []
    for kind in (Presence.INVITED, Presence.JOINED):
        if old < kind <= new:
            opens.append(kind)
        elif new < kind <= old:
            closes.append(kind)
    return Transition(tuple(opens), tuple(closes))


def visibility_segments(
    changes: Iterable[VisibilityChange],
) -> list[tuple[Interval, Visibility]]:
    """The room's visibility as consecutive segments from :data:`EPOCH` on.

    Several changes at the same millisecond: the last one given wins (stream order).
    """
    by_time: dict[int, Visibility] = {}
    for change in changes:
        by_time[max(change.from_ms, EPOCH)] = change.visibility
    points = sorted(by_time.items())
    if not points or points[0][0] > EPOCH:
        points.insert(0, (EPOCH, Visibility.SHARED))
    segments = []
    for i, (start, vis) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else None
        segments.append((Interval(start, end), vis))
    return segments


def _intersect(a: Interval, b: Interval) -> Interval | None:
    start = max(a.from_ms, b.from_ms)
    ends = [e for e in (a.to_ms, b.to_ms) if e is not None]
    end = min(ends) if ends else None
    if end is not None and end <= start:
        return None
    return Interval(start, end)


def _start_then_end(iv: Interval) -> tuple[int, float]:
    return (iv.from_ms, float("inf") if iv.to_ms is None else iv.to_ms)


def merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, non-overlapping, non-adjacent union of ``intervals``."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=_start_then_end):
        if out and (out[-1].to_ms is None or iv.from_ms <= out[-1].to_ms):
            last = out[-1]
            end = None if last.to_ms is None or iv.to_ms is None else max(last.to_ms, iv.to_ms)
            out[-1] = Interval(last.from_ms, end)
        else:
            out.append(iv)
    return tuple(out)


def reach(timeline: ServerTimeline, changes: Iterable[VisibilityChange]) -> tuple[Interval, ...]:
    """The send times whose items the server received (see the module docstring)."""
    if not timeline.joined:
        return ()
    # Items sent before this moment can still be fetched under open history.
    ends = [iv.to_ms for iv in timeline.joined]
    horizon = Interval(EPOCH, None if None in ends else max(e for e in ends if e is not None))
    pieces: list[Interval | None] = []
    for segment, vis in visibility_segments(changes):
        if vis in OPEN_HISTORY:
            pieces.append(_intersect(segment, horizon))
        elif vis is Visibility.INVITED:
            for aware in timeline.aware:
                part = _intersect(segment, aware)
                pieces.append(None if part is None else _intersect(part, horizon))
        # Joined (and every other visibility): while joined, which always counts.
        pieces.extend(_intersect(segment, j) for j in timeline.joined)
    return merge(p for p in pieces if p is not None)


def covers(ranges: Sequence[Interval], t: int) -> bool:
    return any(r.contains(t) for r in ranges)


@dataclass
class RoomTimeline:
    """An in-memory room timeline fed by membership and visibility events.

    The storage-backed ledger keeps the same timelines in tables; this class is the
    reference it is tested against and serves callers that hold a room's history in hand.
    """

    members: dict[str, tuple[str, Presence]] = field(default_factory=dict)
    intervals: dict[tuple[str, Presence], list[list[int | None]]] = field(default_factory=dict)
    changes: list[VisibilityChange] = field(default_factory=list)

    def presence(self, server: str) -> Presence:
        found = [p for s, p in self.members.values() if s == server]
        return max(found, default=Presence.NONE)

    def observe_membership(self, user_id: str, membership: str, at_ms: int) -> None:
        server = server_of(user_id)
        old = self.presence(server)
        new_state = Presence.of_membership(membership)
        if new_state is Presence.NONE:
            self.members.pop(user_id, None)
        else:
            self.members[user_id] = (server, new_state)
        change = transition(old, self.presence(server))
        for kind in change.closes:
            spans = self.intervals[(server, kind)]
            start = spans[-1][0]
            assert start is not None
            spans[-1][1] = max(at_ms, start)
            if spans[-1][1] == start:
                spans.pop()
        for kind in change.opens:
            self.intervals.setdefault((server, kind), []).append([at_ms, None])

    def observe_visibility(self, visibility: Visibility, at_ms: int) -> None:
        self.changes.append(VisibilityChange(at_ms, visibility))

    def servers(self) -> set[str]:
        return {server for server, _ in self.intervals}

    def timeline(self, server: str) -> ServerTimeline:
        def spans(kind: Presence) -> tuple[Interval, ...]:
            return tuple(
                Interval(s, e) for s, e in self.intervals.get((server, kind), []) if s is not None
            )

        return ServerTimeline(joined=spans(Presence.JOINED), aware=spans(Presence.INVITED))

    def recipients(self, t: int) -> set[str]:
        return {s for s in self.servers() if covers(reach(self.timeline(s), self.changes), t)}


def server_of(user_id: str) -> str:
    """The server name of a Matrix user id: everything after the first colon."""
    _, sep, server = user_id.partition(":")
    if not sep or not server:
        raise ValueError("not a Matrix user id")
    return server
