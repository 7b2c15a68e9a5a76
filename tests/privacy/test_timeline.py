"""The recipient rule, checked against a brute-force model of Synapse's visibility check.

The model replays every membership event up to each millisecond and asks, per server,
the question ``filter_events_for_server`` asks; :func:`reach` must agree at every t.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.privacy.timeline import (
    Interval,
    Presence,
    RoomTimeline,
    ServerTimeline,
    Visibility,
    VisibilityChange,
    covers,
    merge,
    reach,
    server_of,
    visibility_segments,
)

SERVERS = ["a.test", "b.test", "c.test"]
USERS = [f"@{name}:{server}" for server in SERVERS for name in ("u", "v")]
HORIZON = 40


@dataclass(frozen=True)
class Event:
    ts: int
    user: str | None  # None: a visibility change
    value: str


events_strategy = st.lists(
    st.one_of(
        st.builds(
            Event,
            st.integers(0, HORIZON),
            st.sampled_from(USERS),
            st.sampled_from(["join", "invite", "leave", "ban", "join"]),
        ),
        st.builds(
            Event,
            st.integers(0, HORIZON),
            st.none(),
            st.sampled_from(["shared", "world_readable", "invited", "joined"]),
        ),
    ),
    max_size=25,
).map(lambda evs: sorted(evs, key=lambda e: e.ts))  # the stream arrives in time order


def brute_force_recipients(events: list[Event], t: int) -> set[str]:
    def state_at(time: int) -> tuple[dict[str, str], str]:
        members: dict[str, str] = {}
        vis = "shared"  # the spec's default without an m.room.history_visibility event
        for e in events:
            if e.ts > time:
                break
            if e.user is None:
                vis = e.value
            else:
                members[e.user] = e.value
        return members, vis

    def server_state(members: dict[str, str], server: str) -> set[str]:
        return {m for u, m in members.items() if server_of(u) == server}

    members_t, vis_t = state_at(t)
    later = range(t, HORIZON + 2)  # after the last event, state stays as it is
    out = set()
    for server in SERVERS:
        now = server_state(members_t, server)
        joins_later = any("join" in server_state(state_at(u)[0], server) for u in later)
        if "join" in now:
            out.add(server)
        elif joins_later and vis_t in ("shared", "world_readable"):
            out.add(server)
        elif joins_later and vis_t == "invited" and "invite" in now:
            out.add(server)
    return out


def build(events: list[Event]) -> RoomTimeline:
    room = RoomTimeline()
    for e in events:
        if e.user is None:
            room.observe_visibility(Visibility.parse(e.value), e.ts)
        else:
            room.observe_membership(e.user, e.value, e.ts)
    return room


@settings(max_examples=300, deadline=None)
@given(events_strategy)
def test_reach_matches_brute_force_model_at_every_millisecond(events: list[Event]) -> None:
    room = build(events)
    for t in range(HORIZON + 3):
        assert room.recipients(t) == brute_force_recipients(events, t), t


@settings(max_examples=200, deadline=None)
@given(events_strategy)
def test_a_server_keeps_what_it_received(events: list[Event]) -> None:
    """Adding events later never removes a recipient of an item sent earlier."""
    cut = len(events) // 2
    before, after = build(events[:cut]), build(events)
    last = max((e.ts for e in events[:cut]), default=0)
    for t in range(last):
        assert before.recipients(t) <= after.recipients(t)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.one_of(st.none(), st.integers(1, 10))), max_size=8)
)
def test_merge_is_the_union(spans: list[tuple[int, int | None]]) -> None:
    intervals = [Interval(s, None if n is None else s + n) for s, n in spans]
    merged = merge(intervals)
    for t in range(45):
        assert covers(merged, t) == any(iv.contains(t) for iv in intervals)
    assert all(
        a.to_ms is not None and a.to_ms < b.from_ms
        for a, b in zip(merged, merged[1:], strict=False)
    )


def test_shared_history_reaches_a_server_that_joins_later() -> None:
    joined_later = ServerTimeline(joined=(Interval(100),), aware=(Interval(100),))
    assert reach(joined_later, []) == (Interval(0, None),)
    only_joined = [VisibilityChange(0, Visibility.JOINED)]
    assert reach(joined_later, only_joined) == (Interval(100, None),)


def test_invited_history_starts_at_the_invite() -> None:
    tl = ServerTimeline(joined=(Interval(50, 80),), aware=(Interval(20, 80),))
    invited = [VisibilityChange(0, Visibility.INVITED)]
    assert reach(tl, invited) == (Interval(20, 80),)


def test_a_server_that_left_keeps_items_from_before_it_left_only() -> None:
    tl = ServerTimeline(joined=(Interval(10, 30),), aware=(Interval(10, 30),))
    ranges = reach(tl, [])
    assert covers(ranges, 29) and covers(ranges, 0) and not covers(ranges, 30)


def test_visibility_changes_at_the_same_millisecond_keep_the_last() -> None:
    segments = visibility_segments(
        [VisibilityChange(5, Visibility.JOINED), VisibilityChange(5, Visibility.INVITED)]
    )
    assert segments == [
        (Interval(0, 5), Visibility.SHARED),
        (Interval(5, None), Visibility.INVITED),
    ]


def test_unknown_visibility_reads_as_shared_and_knock_gives_no_presence() -> None:
    assert Visibility.parse("some_future_value") is Visibility.SHARED
    assert Visibility.parse(None) is Visibility.SHARED
    assert Presence.of_membership("knock") is Presence.NONE


def test_server_of_rejects_a_non_user_id() -> None:
    assert server_of("@alice:example.org:8448") == "example.org:8448"
    try:
        server_of("alice")
    except ValueError:
        return
    raise AssertionError("expected ValueError")
