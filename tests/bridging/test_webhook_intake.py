"""``rocketchat.intake: webhook`` end to end: a message sent in Rocket.Chat reaches every
homeserver through the simulator's outgoing webhook, and a deletion (which has no
webhook event) through the catch-up that webhook mode runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from ruamel.yaml import YAML
from sqlalchemy import text

from bridge.ids import RCMessageID, RCRoomID
from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.webhook import PATH
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import ask_rc, rc_dm
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for
from tests.fixtures.rocketchat import create_outgoing_webhook

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TOKEN = "webhook-token-for-tests-0123456789"  # noqa: S105


@asynccontextmanager
async def webhook_mode(stack: BridgeStack, catchup_seconds: int) -> AsyncIterator[None]:
    """Run the session's bridge with the webhook intake, then put realtime back."""
    yaml = YAML()
    original = stack.config_path
    data = yaml.load(original.read_text())
    data["rocketchat"].update(
        intake="webhook", webhook_token=TOKEN, webhook_catchup_seconds=catchup_seconds
    )
    path = original.parent / "webhook-config.yaml"
    with path.open("w") as f:
        yaml.dump(data, f)
    stack.config_path = path
    try:
        await stack.restart()
        yield
    finally:
        stack.config_path = original
        await stack.restart()


async def _true(value: bool) -> bool:
    return value


async def _rc_admin(stack: BridgeStack) -> RCRestClient:
    admin = await stack.rc_user()
    me = await admin.me()
    stack.sim.state.users[me.id].roles.append("admin")
    return admin


async def test_rocketchat_message_reaches_matrix_through_the_outgoing_webhook(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    admin = await _rc_admin(bridge_stack)
    url = bridge_stack.registration.url.rstrip("/") + PATH
    integration = await create_outgoing_webhook(admin, url, TOKEN)
    carol = await bridge_stack.rc_user()
    hs2 = MatrixView(await make_user(1))
    ghosts = "@" + bridge_stack.registration.user_prefix
    try:
        # An hour between catch-ups: the bridge started before the room existed, so
        # only the webhook can bring the message.
        async with webhook_mode(bridge_stack, catchup_seconds=3600):
            room = await portal([carol], [hs2.user])
            webhook = bridge_stack.app.webhook
            assert webhook is not None
            sent = await carol.post_message(RCRoomID(room.rc_room_id), "sent over the webhook")

            async def arrived() -> list[dict[str, Any]]:
                return await hs2.messages(room.matrix_room_id, ghosts)

            (event,) = await wait_for(arrived)
            assert event["content"]["body"] == "sent over the webhook"
            assert webhook.stored >= 1
            # A DM with the bridge's account is followed too: a first command is answered.
            dm = await rc_dm(carol)
            assert "!privacy" in await ask_rc(carol, dm, "!privacy help", "!privacy")
            # A channel the bridge does not bridge: its messages are not even read.
            other = await admin.room_create("channels", "not-bridged", [])
            ignored = webhook.ignored
            await admin.post_message(other.id, "not for the bridge")
            await wait_for(lambda: _true(webhook.ignored > ignored))
            async with bridge_stack.app.db.engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT count(*) FROM inbox_event WHERE room_id = :r"), {"r": other.id}
                )
                assert rows.scalar_one() == 0
            # Deletions have no outgoing-webhook event: the catch-up at start finds it.
            await carol.delete_message(RCRoomID(room.rc_room_id), RCMessageID(sent.id))
            await bridge_stack.restart()

            async def redacted() -> bool:
                got = await hs2.event(room.matrix_room_id, event["event_id"])
                return got["content"] == {}

            assert await wait_for(redacted)
    finally:
        await hs2.close()
        await admin._post("integrations.remove", {"integrationId": integration})  # noqa: SLF001


async def test_a_wrong_webhook_token_is_refused_and_audited(bridge_stack: BridgeStack) -> None:
    url = bridge_stack.registration.url.rstrip("/") + PATH
    async with webhook_mode(bridge_stack, catchup_seconds=3600):
        async with aiohttp.ClientSession() as http:
            body = {"token": "not-the-token-0123456789abc", "message_id": "m", "channel_id": "r"}
            async with http.post(url, json=body) as resp:
                assert resp.status == 403
        (entry, *_) = await AuditLog(bridge_stack.app.db).newest(kind=audit.ADMIN_LOGIN_REFUSED)
        assert entry.actor == "webhook:anonymous"
        assert entry.details["method"] == "webhook"
        assert "not-the-token" not in str(entry.details)
