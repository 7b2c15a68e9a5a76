"""!bridge link/unlink and their refusals are on record, and a request id that does not
exist is refused exactly like one that is someone else's, both on record."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.commands.bridge_admin import LINK_AUDIT as LINK
from bridge.commands.bridge_admin import UNLINK_AUDIT as UNLINK
from bridge.privacy import audit
from bridge.privacy.audit import AuditEntry, AuditLog
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import ask_matrix, matrix_dm
from tests.erasure.helpers import OFFICER, ledger_items, say
from tests.fixtures.bridge_stack import BridgeStack, Portal

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _entries(stack: BridgeStack, kind: str, after: int) -> list[AuditEntry]:
    entries = await AuditLog(stack.app.db).newest(kind=kind, limit=1000)
    return [e for e in reversed(entries) if e.seq > after]


async def _head(stack: BridgeStack) -> int:
    newest = await AuditLog(stack.app.db).newest(limit=1)
    return newest[0].seq if newest else 0


async def test_link_and_unlink_and_their_refusals_are_audited(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    dave_user = await make_user(1)
    admin_user = bridge_stack.homeservers.admin(0)
    room = await portal([carol], [dave_user, admin_user])
    dave, admin = MatrixView(dave_user), MatrixView(admin_user)
    rid = RoomID(room.matrix_room_id)
    start = await _head(bridge_stack)
    try:
        await ask_matrix(bridge_stack, dave, rid, "!bridge unlink", "Only bridge admins")
        await ask_matrix(bridge_stack, admin, rid, "!bridge unlink", "no longer bridged")
        await ask_matrix(bridge_stack, admin, rid, "!bridge unlink", "not bridged")
        other = await carol.room_create("channels", f"audit-{uuid.uuid4().hex[:8]}")
        dm = await matrix_dm(bridge_stack, admin)
        await ask_matrix(bridge_stack, admin, dm, f"!bridge link {other.id}", "Linked")

        refused = await _entries(bridge_stack, audit.COMMAND_REFUSED, start)
        assert [(e.details["command"], e.details["reason"]) for e in refused] == [
            ("bridge unlink", "only bridge admins can use !bridge unlink"),
            ("bridge unlink", "not a bridged room"),
        ]
        (unlinked,) = await _entries(bridge_stack, UNLINK, start)
        assert unlinked.details["portal_id"] == room.portal_id
        links = await _entries(bridge_stack, LINK, start)
        assert [(e.details["rc_room"], e.details["outcome"]) for e in links] == [
            (other.id, "requested"),
            (other.id, "linked"),
        ]
        assert (await AuditLog(bridge_stack.app.db).verify()).ok
    finally:
        await dave.close()
        await admin.close()


async def test_an_unknown_request_id_is_answered_like_someone_elses(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    carol_id = (await carol.me()).id
    dave_user = await make_user(1)
    room = await portal([carol], [dave_user])
    dave = MatrixView(dave_user)
    try:
        await say(carol, room, dave, "carol's message")
        await ledger_items(bridge_stack, carol_id, 1)
        theirs = await bridge_stack.app.erasure.request(carol_id, OFFICER)
        dm = await matrix_dm(bridge_stack, dave)
        start = await _head(bridge_stack)
        unknown = await ask_matrix(
            bridge_stack, dave, dm, "!privacy cancel er-00000000deadbeef", "Refused"
        )
        other = await ask_matrix(bridge_stack, dave, dm, f"!privacy cancel {theirs}", "Refused")
        assert unknown == other
        assert "er-" not in unknown
        refused = await _entries(bridge_stack, audit.COMMAND_REFUSED, start)
        assert [(e.details["command"], e.details["reason"]) for e in refused] == [
            ("cancel", "no such request"),
            ("cancel", "not the requester"),
        ]
        status = await bridge_stack.app.erasure.status(theirs)
        assert status.state.value == "received", "nothing changed"
    finally:
        await dave.close()
