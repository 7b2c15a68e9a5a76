"""!privacy from a Rocket.Chat DM with the bridge's account (the simulator's DM API), and
the relay's opt-out and one-time notice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from mautrix.types import RoomID

from bridge.ids import RCRoomID
from bridge.privacy.audit import COMMAND_REFUSED, EXPORT_PRODUCED, AuditLog
from bridge.privacy.pseudonyms import existing_in
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView
from tests.commands.helpers import CODE, ask_rc, rc_bot_texts, rc_dm, rc_export
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _matrix_bodies(view: MatrixView, room: RoomID) -> list[str]:
    return [str(e["content"].get("body")) for e in await view.messages(room)]


async def test_rocketchat_user_notice_once_optout_export_and_erasure(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    frank = await bridge_stack.rc_user()
    me = await frank.me()
    watcher = await make_user(1)
    room = await portal([frank], [watcher])
    view = MatrixView(watcher)
    try:
        for text in ("frank one", "frank two"):
            await frank.post_message(RCRoomID(room.rc_room_id), text)

        async def both() -> bool:
            bodies = await _matrix_bodies(view, room.matrix_room_id)
            return "frank one" in bodies and "frank two" in bodies

        await wait_for(both, 60)
        dm = await rc_dm(frank)
        notices = [t for t in await rc_bot_texts(frank, dm) if "Before your first" in t]
        assert len(notices) == 1, "the notice is shown exactly once, before the first send"

        await ask_rc(frank, dm, "!privacy optout", "opted out")
        await frank.post_message(RCRoomID(room.rc_room_id), "secret while opted out")

        async def note() -> bool:
            return any("opted out" in b for b in await _matrix_bodies(view, room.matrix_room_id))

        await wait_for(note, 60)
        bodies = await _matrix_bodies(view, room.matrix_room_id)
        assert "secret while opted out" not in bodies
        assert not any(me.username in b for b in bodies if "opted out" in b), "not named"
        await ask_rc(frank, dm, "!privacy optin", "opted in again")

        status = await ask_rc(frank, dm, "!privacy status", "item(s)")
        assert bridge_stack.homeservers.server_names[1] in status
        await frank.post_message(RCRoomID(dm), "!privacy export")
        document = await rc_export(bridge_stack, frank, dm)
        assert document["subject"]["rocketchat_user_id"] == me.id
        servers = {r["server"] for r in document["recipients"]}
        assert bridge_stack.homeservers.server_names[1] in servers
        assert document["opted_out"] is False

        async def export_audited() -> bool:
            # Recorded when the command's action is marked done, just after the upload.
            exports = await AuditLog(bridge_stack.app.db).newest(kind=EXPORT_PRODUCED)
            # The audit log names people by pseudonym (bridge.privacy.pseudonyms).
            named = await existing_in(bridge_stack.app.db, me.id)
            return any(e.actor == named for e in exports)

        assert await wait_for(export_audited)

        summary = await ask_rc(frank, dm, f"!privacy delete --room {room.rc_room_id}", "confirm")
        assert "in 1 room(s)" in summary
        code = CODE.search(summary)
        assert code is not None
        await ask_rc(frank, dm, f"!privacy delete confirm {code.group(1)}", "has started")
        await wait_for(lambda: _has(frank, dm, "has finished"), 90)

        async def redacted() -> bool:
            bodies = await _matrix_bodies(view, room.matrix_room_id)
            return "frank one" not in bodies and "frank two" not in bodies

        assert await wait_for(redacted, 60)
    finally:
        await view.close()


async def _has(user: RCRestClient, dm: str, text: str) -> bool:
    return any(text in t for t in await rc_bot_texts(user, dm))


async def test_rocketchat_refusals_are_answered_and_audited(bridge_stack: BridgeStack) -> None:
    grace = await bridge_stack.rc_user()
    me = await grace.me()
    dm = await rc_dm(grace)
    for command, expect in [
        ("!privacy requests", "only privacy admins"),
        ("!privacy approve er-0123456789abcdef", "only privacy admins"),
        ("!privacy frobnicate", "unknown command"),
        ("!privacy export --for someone", "unknown option"),
    ]:
        await ask_rc(grace, dm, command, expect)
    refused = await AuditLog(bridge_stack.app.db).newest(kind=COMMAND_REFUSED, limit=200)
    named = await existing_in(bridge_stack.app.db, me.id)
    mine = {e.details["command"] for e in refused if e.actor == named}
    assert {"requests", "approve", "frobnicate", "export"} <= mine
