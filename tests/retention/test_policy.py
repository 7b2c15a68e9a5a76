"""A Rocket.Chat room's effective retention policy and its m.room.retention form."""

from __future__ import annotations

from typing import Any

from bridge.privacy import retention_policy
from bridge.privacy.retention_policy import RetentionSettings, RoomPolicy, retention_content
from bridge.rctypes.retention import RCRoomRetention
from bridge.sandbox.rocketchat.permissions import DEFAULT_SETTINGS

DAY = 86_400_000


def settings(**changes: Any) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, "RetentionPolicy_Enabled": True, **changes}


def effective_policy(values: dict[str, Any], room: dict[str, Any]) -> RoomPolicy | None:
    """The policy from the settings' values and a ``rooms.info`` room, as Rocket.Chat
    answers them."""
    return retention_policy.effective_policy(
        RetentionSettings.parse(values), RCRoomRetention.parse(room)
    )


def test_nothing_applies_while_the_global_switch_is_off() -> None:
    own = {"enabled": True, "overrideGlobal": True, "maxAge": 1}
    off = settings(RetentionPolicy_Enabled=False, RetentionPolicy_AppliesToChannels=True)
    assert effective_policy(off, {"t": "c", "retention": own}) is None


def test_global_policy_by_room_type() -> None:
    s = settings(RetentionPolicy_AppliesToGroups=True, RetentionPolicy_TTL_Groups=2 * DAY)
    assert effective_policy(s, {"t": "p"}) == RoomPolicy(2 * DAY, False, "global")
    assert effective_policy(s, {"t": "c"}) is None  # channels are not covered
    assert effective_policy(s, {"t": "p", "retention": {"enabled": False}}) is None


def test_a_room_override_with_a_fractional_max_age_in_days() -> None:
    s = settings()
    own = {"enabled": True, "overrideGlobal": True, "maxAge": 1 / 1440}
    policy = effective_policy(s, {"t": "c", "retention": own})
    assert policy == RoomPolicy(60_000, False, "room")
    assert retention_content(policy) == {"max_lifetime": 60_000}
    assert policy.describe() == "messages older than 1 minute (room policy)"


def test_an_override_that_is_not_enabled_keeps_the_room_unpruned() -> None:
    # cronPruneMessages.ts skips rooms with overrideGlobal set: they are pruned only by
    # their own policy, which is off here.
    s = settings(RetentionPolicy_AppliesToChannels=True)
    own = {"enabled": False, "overrideGlobal": True, "maxAge": 1}
    assert effective_policy(s, {"t": "c", "retention": own}) is None


def test_a_files_only_policy_sets_no_max_lifetime() -> None:
    s = settings(RetentionPolicy_AppliesToChannels=True, RetentionPolicy_FilesOnly=True)
    policy = effective_policy(s, {"t": "c"})
    assert policy is not None and policy.files_only
    assert retention_content(policy) == {}
    assert retention_content(None) == {}
