"""A linked room whose Matrix side belongs to someone else: the bot may not set the
room's ACL or kick, so a deny cannot be carried out there. Both sides are told the relay
into the room is paused, and the relay's own check keeps it paused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.types import RoomCreatePreset, RoomID, UserID

from bridge.privacy.audit import AuditLog
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.sandbox.models import MatrixUser
from tests.commands.helpers import rc_bot_texts
from tests.fixtures.bridge_stack import BridgeStack, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_without_the_power_the_room_is_paused_with_a_notice_on_both_sides(
    bridge_stack: BridgeStack, make_user: Callable[..., Awaitable[MatrixUser]]
) -> None:
    stack = bridge_stack
    hs3 = stack.homeservers.server_names[2]
    owner, outsider = await make_user(1), await make_user(2)
    api = HTTPAPI(owner.homeserver.client_url, owner.access_token)
    client = ClientAPI(UserID(owner.user_id), api=api)
    try:
        room = await client.create_room(
            preset=RoomCreatePreset.PRIVATE, invitees=[UserID(stack.app.config.bot_mxid)]
        )
        await client.invite_user(room, UserID(outsider.user_id))
    finally:
        await api.session.close()
    api3 = HTTPAPI(outsider.homeserver.client_url, outsider.access_token)
    try:
        await ClientAPI(UserID(outsider.user_id), api=api3).join_room(
            room, servers=[owner.user_id.split(":", 1)[1]], max_retries=0
        )
    finally:
        await api3.session.close()
    admin = await stack.rc_user()
    channel = await admin.room_create("channels", f"linked-{room[1:9].lower()}", [])
    await stack.app.link(channel.id, RoomID(room))

    register = PartnerRegister(stack.app.db)
    try:
        changes = PartnerChanges(
            organisation="Agency Three", lawful_basis="public_task", policy="deny"
        )
        await register.set(hs3, changes, "cli:test")

        async def rc_told() -> str | None:
            texts = await rc_bot_texts(admin, channel.id, "channels")
            return next((t for t in texts if "may not remove it" in t), None)

        text = await wait_for(rc_told, 60)
        assert hs3 in text and "Nothing more is relayed" in text
        enforced = [
            e for e in await AuditLog(stack.app.db).newest(kind="partner.enforced", limit=50)
            if e.details.get("room_id") == room
        ]  # fmt: skip
        assert enforced and enforced[0].details["acl"] == "not permitted"
    finally:
        await register.remove(hs3, "cli:test")
