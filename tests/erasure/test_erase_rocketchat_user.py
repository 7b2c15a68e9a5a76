"""Erasing a Rocket.Chat user: every Matrix copy redacted, Rocket.Chat originals deleted,
the ghost scrubbed, remote admins notified; statuses are what the servers show."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.privacy import report as words
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.notices import ACK_EVENT, REQUEST_EVENT
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.erasure.helpers import (
    content_of,
    erase,
    ledger_items,
    notice_row,
    room_row,
    say,
    seen_redacted,
)
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _notice_room(stack: BridgeStack, admin: MatrixView) -> RoomID:
    """The bot's DM room with hs1's admin (claimed through a derived alias)."""
    digest = hashlib.sha256(admin.user.user_id.encode()).hexdigest()[:16]
    prefix = stack.registration.user_prefix
    alias = f"#{prefix}room_privacy_{digest}:{stack.homeservers.server_names[0]}"
    room = (await admin.client.resolve_room_alias(alias)).room_id  # type: ignore[arg-type]
    await admin.client.join_room(room, servers=[stack.homeservers.server_names[0]], max_retries=0)
    return room


async def test_rocketchat_user_is_erased_on_both_remote_servers_and_rocketchat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs1, hs2, hs3 = bridge_stack.homeservers.server_names
    carol, dave = await bridge_stack.rc_user(), await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    alice, bob = await make_user(1), await make_user(2)
    room = await portal([carol, dave], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    admin = MatrixView(bridge_stack.homeservers.admin(1))
    try:
        said = [await say(carol, room, views[0], f"carol secret {i}") for i in range(3)]
        kept = await say(dave, room, views[0], "dave stays")
        await ledger_items(bridge_stack, carol_id, 3)
        events = [event for _, event in said]
        rid = RoomID(room.matrix_room_id)

        status = await erase(bridge_stack, carol_id)

        assert status.state is RequestState.DONE, status
        # Both remote servers' client APIs show the redacted (empty) content.
        for view in views:
            assert await seen_redacted(view, rid, events)
            assert (await content_of(view, rid, kept[1]))["body"] == "dave stays"
        # Rocket.Chat: carol's originals are gone, dave's message is not.
        texts = [m.text for m in await rc_history(dave, room.rc_room_id)]
        assert "dave stays" in texts
        assert not [t for t in texts if t.startswith("carol secret")]
        # The per-recipient statuses say exactly that, and no more.
        assert room_row(status, hs1, rid).status == words.REDACTION_SENT
        assert room_row(status, hs2, rid).status == words.DELIVERED
        assert room_row(status, hs3, rid).status == words.DELIVERED
        rc_name = f"rocketchat:127.0.0.1:{bridge_stack.sim.port}"
        assert room_row(status, rc_name, rid).status == words.DELETED
        assert notice_row(status, hs2).status == words.ADMIN_NOTIFIED
        assert notice_row(status, hs3).status == words.NO_CONTACT
        assert {s.step: s.status for s in status.steps} == {
            "ghost_profile": "done",
            "media": "done",
        }
        # hs2's admin got the DM: a readable notice and the machine-readable request.
        dm = await _notice_room(bridge_stack, admin)

        async def request_event() -> dict[str, object] | None:
            for e in await admin.timeline(dm):
                if e["type"] == REQUEST_EVENT and e["content"]["request_id"] == status.id:
                    return dict(e["content"])
            return None

        content = await wait_for(request_event)
        assert content["rooms"] == {rid: events}
        assert content["deadline"] == status.due_ms
        # A remote bridge's acknowledgement is recorded as such.
        await admin.send(dm, {"request_id": status.id}, ACK_EVENT)

        async def acknowledged() -> bool:
            now = await bridge_stack.app.erasure.status(status.id)
            return notice_row(now, hs2).status == words.ACKNOWLEDGED

        assert await wait_for(acknowledged)
        report = await bridge_stack.app.erasure.report(status.id)
        assert "7 days" in report and hs2 in report and hs3 in report
        assert "deleted everywhere" not in report
        assert status.subject.startswith("pseudonym:")
    finally:
        for view in (*views, admin):
            await view.close()
