"""Acknowledgements of erasure notices count only from the contact the notice went to, in
that DM, while the request waits for it; anything else is refused and audited."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.privacy import report as words
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure_acks import ACK_REFUSED, NOT_A_CONTACT, NOT_WAITING, WRONG_ROOM
from bridge.privacy.notices import ACK_EVENT
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import matrix_dm
from tests.erasure.helpers import erase, ledger_items, notice_row, say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _notice_room(stack: BridgeStack, admin: MatrixView) -> RoomID:
    digest = hashlib.sha256(admin.user.user_id.encode()).hexdigest()[:16]
    prefix = stack.registration.user_prefix
    alias = f"#{prefix}room_privacy_{digest}:{stack.homeservers.server_names[0]}"
    room = (await admin.client.resolve_room_alias(alias)).room_id  # type: ignore[arg-type]
    await admin.client.join_room(room, servers=[stack.homeservers.server_names[0]], max_retries=0)
    return room


async def _refusals(stack: BridgeStack, request_id: str) -> list[str]:
    entries = await AuditLog(stack.app.db).newest(kind=ACK_REFUSED, limit=500)
    return [str(e.details["reason"]) for e in entries if e.details["request_id"] == request_id]


async def _refused(stack: BridgeStack, request_id: str, reason: str) -> None:
    async def seen() -> bool:
        return reason in await _refusals(stack, request_id)

    await wait_for(seen, 60)


async def test_only_the_notified_contact_in_its_dm_acknowledges_once(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    hs2 = bridge_stack.homeservers.server_names[1]
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    mallory_user = await make_user(1)  # on the notified server, in the portal
    room = await portal([carol], [mallory_user])
    mallory = MatrixView(mallory_user)
    admin = MatrixView(bridge_stack.homeservers.admin(1))
    try:
        await say(carol, room, mallory, "carol's secret")
        await ledger_items(bridge_stack, carol_id, 1)
        status = await erase(bridge_stack, carol_id)
        rid = status.id
        assert notice_row(status, hs2).status == words.ADMIN_NOTIFIED

        # A user of the notified server forges one in the shared room.
        await mallory.send(room.matrix_room_id, {"request_id": rid}, ACK_EVENT)
        await _refused(bridge_stack, rid, NOT_A_CONTACT)
        # The contact, in a room that is not the notice's DM.
        elsewhere = await matrix_dm(bridge_stack, admin)
        await admin.send(elsewhere, {"request_id": rid}, ACK_EVENT)
        await _refused(bridge_stack, rid, WRONG_ROOM)
        now = await bridge_stack.app.erasure.status(rid)
        assert notice_row(now, hs2).status == words.ADMIN_NOTIFIED
        # Nothing was said back in either room.
        for view, where in ((mallory, room.matrix_room_id), (admin, elsewhere)):
            said = [
                e
                for e in await view.timeline(where)
                if e["sender"] == bridge_stack.registration.sender
                and e["type"] == "m.room.message"
                and rid in str(e["content"].get("body"))
            ]
            assert not said

        # The contact, in the notice's DM: counts.
        dm = await _notice_room(bridge_stack, admin)
        await admin.send(dm, {"request_id": rid}, ACK_EVENT)

        async def acknowledged() -> bool:
            now = await bridge_stack.app.erasure.status(rid)
            return notice_row(now, hs2).status == words.ACKNOWLEDGED

        assert await wait_for(acknowledged, 60)
        # Once acknowledged, the request waits for nothing more from that server.
        await admin.send(dm, {"request_id": rid}, ACK_EVENT)
        await _refused(bridge_stack, rid, NOT_WAITING)
        assert (await _refusals(bridge_stack, rid)).count(NOT_WAITING) == 1
    finally:
        await mallory.close()
        await admin.close()
