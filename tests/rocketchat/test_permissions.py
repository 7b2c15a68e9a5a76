"""Permissions and settings the simulator models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.rocketchat.errors import RCBadRequestError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import SimulatorServer
from tests.fixtures.rocketchat import sim_control


async def test_impersonation_needs_message_impersonate(
    rc_admin: RCRestClient, rc_bot: RCRestClient
) -> None:
    room = await rc_bot.room_create("channels", "alias", members=["admin"])
    # Default roles of message-impersonate are bot and app; admin does not have it.
    with pytest.raises(RCBadRequestError) as err:
        await rc_admin.post_message(room.id, "hi", alias="Someone")
    assert err.value.error == "Not enough permission" and err.value.error_type is None
    sent = await rc_bot.post_message(room.id, "hi", alias="Matrix User")
    assert sent.alias == "Matrix User"


async def test_edit_and_delete_own_vs_others(
    rc_bot: RCRestClient, rc_user: RCRestClient, rc_admin: RCRestClient
) -> None:
    room = await rc_bot.room_create("channels", "perms", members=["carol"])
    mine = await rc_user.post_message(room.id, "carol's")
    bots = await rc_bot.post_message(room.id, "bot's")
    assert (await rc_user.update_message(room.id, mine.id, "fixed")).text == "fixed"
    with pytest.raises(RCBadRequestError) as edit_err:
        await rc_user.update_message(room.id, bots.id, "hijack")
    assert edit_err.value.error_type == "error-action-not-allowed"
    await rc_user.delete_message(room.id, mine.id)  # delete-own-message: user role
    await rc_admin.delete_message(room.id, bots.id)  # delete-message: admin role


async def test_clean_history_needs_permission(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "noprune")
    with pytest.raises(RCBadRequestError) as err:
        await rc_bot.clean_history(
            room.id, oldest=datetime.now(UTC) - timedelta(hours=1), latest=datetime.now(UTC)
        )
    assert err.value.error_type == "error-not-allowed"


async def test_keep_history_hides_instead_of_trashing(
    rc_sim: SimulatorServer, rc_bot: RCRestClient
) -> None:
    await sim_control(rc_sim, "settings", {"Message_KeepHistory": True})
    room = await rc_bot.room_create("channels", "keep")
    msg = await rc_bot.post_message(room.id, "kept")
    await rc_bot.delete_message(room.id, msg.id)
    assert rc_sim.state.messages[msg.id]["_hidden"] is True
    assert await rc_bot.room_history("channels", room.id) == []


async def test_thread_parent_delete_is_always_soft(rc_bot: RCRestClient) -> None:
    room = await rc_bot.room_create("channels", "threadparent")
    parent = await rc_bot.post_message(room.id, "parent")
    await rc_bot.send_message(room.id, "reply", thread_id=parent.id)
    await rc_bot.delete_message(room.id, parent.id)
    assert (await rc_bot.get_message(parent.id)).is_deleted  # forced ShowDeletedStatus


async def test_disabled_permission_is_enforced(
    rc_sim: SimulatorServer, rc_user: RCRestClient, rc_bot: RCRestClient
) -> None:
    await sim_control(rc_sim, "permissions", {"delete-own-message": []})
    room = await rc_bot.room_create("channels", "noown", members=["carol"])
    mine = await rc_user.post_message(room.id, "stuck")
    with pytest.raises(RCBadRequestError):
        await rc_user.delete_message(room.id, mine.id)
