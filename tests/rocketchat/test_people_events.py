"""The stream-notify-logged events about people, parsed and checked before they are used."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from bridge.ids import RCUserID, RCUsername
from bridge.rctypes.events import AvatarChanged, EventSource, UserDeleted, UserRenamed
from bridge.rocketchat.inbox_events import from_payload, to_payload
from bridge.rocketchat.realtime import RealtimeListener
from bridge.rocketchat.validation import inbox_payload_problem


def _parse(name: str, data: Any) -> Any:
    return RealtimeListener._parse(None, "stream-notify-logged", name, [data])  # type: ignore[arg-type]  # noqa: SLF001


def test_each_announcement_becomes_its_event_and_survives_the_inbox() -> None:
    deleted = _parse(
        "Users:Deleted",
        {
            "userId": "u1",
            "messageErasureType": "Unlink",
            "replaceByUser": {
                "_id": "rocket.cat",
                "username": "rocket.cat",
                "alias": "Removed User",
            },
        },
    )
    assert deleted == UserDeleted(RCUserID("u1"), "Unlink", EventSource.REALTIME, "Removed User")
    renamed = _parse("Users:NameChanged", {"_id": "u1", "name": "Carol", "username": "carol"})
    assert renamed == UserRenamed(
        RCUserID("u1"), RCUsername("carol"), "Carol", EventSource.REALTIME
    )
    avatar = _parse("updateAvatar", {"username": "carol"})
    assert avatar == AvatarChanged(RCUsername("carol"), None, EventSource.REALTIME)
    for event in (deleted, renamed, avatar):
        payload = to_payload(event)
        assert inbox_payload_problem(payload) is None
        # Read back from the inbox, it is the same event (as any stored event, "catchup").
        assert attrs.evolve(from_payload(payload), source=EventSource.REALTIME) == event


def test_a_deletion_is_one_inbox_event_however_often_it_is_announced() -> None:
    one = to_payload(UserDeleted(RCUserID("u1"), "Delete", EventSource.REALTIME))
    two = to_payload(UserDeleted(RCUserID("u1"), "Delete", EventSource.CATCHUP))
    assert one["event_id"] == two["event_id"]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"change": "deleted", "user_id": "u1", "erasure_type": "Shred"}, "erasure_type"),
        ({"change": "deleted", "user_id": 5, "erasure_type": "Delete"}, "user_id"),
        ({"change": "renamed", "user_id": "u1", "username": ""}, "username"),
        ({"change": "renamed", "user_id": "u1", "username": "c", "name": 3}, "name"),
        ({"change": "avatar", "username": "c", "etag": 1}, "etag"),
        ({"change": "moved"}, "unknown person change"),
    ],
)
def test_a_malformed_person_payload_is_refused_with_its_reason(
    payload: dict[str, Any], problem: str
) -> None:
    found = inbox_payload_problem({"event_id": "x", "type": "person", **payload})
    assert found is not None and problem in found


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Users:Deleted", {"messageErasureType": "Delete"}),
        ("Users:Deleted", {"userId": "u1", "messageErasureType": 7}),
        ("Users:NameChanged", {"_id": "u1", "username": None}),
        ("updateAvatar", {"etag": "e"}),
    ],
)
def test_a_malformed_announcement_raises_what_the_listener_drops(name: str, data: Any) -> None:
    with pytest.raises((KeyError, TypeError)):
        _parse(name, data)
