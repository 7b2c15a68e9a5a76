"""A Matrix redaction deletes on Rocket.Chat only when its sender wrote the message or has
the room's redact power; checked by the bridge itself, against the real room state."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from mautrix.types import EventType, PowerLevelStateEventContent, RoomID, UserID

from bridge.bridging.redactions import REFUSED
from bridge.ids import RCMessageID
from bridge.privacy.audit import AuditLog
from bridge.sandbox.models import MatrixUser
from tests.bridging.helpers import MatrixView, rc_history
from tests.erasure.helpers import say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _grant(stack: BridgeStack, room: RoomID, user: str, level: int) -> None:
    bot = stack.bot_client()
    try:
        levels = await bot.get_state_event(room, EventType.ROOM_POWER_LEVELS)
        assert isinstance(levels, PowerLevelStateEventContent)
        levels.set_user_level(UserID(user), level)
        await bot.send_state_event(room, EventType.ROOM_POWER_LEVELS, levels)
    finally:
        await bot.api.session.close()


async def _deliver(stack: BridgeStack, event: dict[str, object]) -> None:
    """Push ``event`` to the bridge the way the homeserver does (a crafted transaction)."""
    url = f"{stack.registration.url}/_matrix/app/v1/transactions/{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {stack.registration.hs_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, json={"events": [event]}, headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def test_only_the_author_or_a_moderator_deletes_on_rocketchat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    carol = await bridge_stack.rc_user()
    nobody_user, mod_user = await make_user(1), await make_user(0)
    room = await portal([carol], [nobody_user, mod_user])
    nobody, mod = MatrixView(nobody_user), MatrixView(mod_user)
    try:
        _, kept = await say(carol, room, nobody, "carol keeps this")
        _, removed = await say(carol, room, nobody, "carol's message a moderator removes")
        # Without power, as Synapse would push it had it let the redaction through.
        await _deliver(
            bridge_stack,
            {
                "type": "m.room.redaction",
                "room_id": room.matrix_room_id,
                "sender": nobody_user.user_id,
                "event_id": f"$forged-{uuid.uuid4().hex}",
                "origin_server_ts": 1,
                "redacts": kept,
                "content": {"redacts": kept},
            },
        )

        async def refused() -> bool:
            entries = await AuditLog(bridge_stack.app.db).newest(kind=REFUSED, limit=100)
            return any(e.details.get("event_id") == kept for e in entries)

        await wait_for(refused, 60)
        # A moderator's real redaction goes through.
        await _grant(bridge_stack, room.matrix_room_id, mod_user.user_id, 50)
        await mod.client.redact(room.matrix_room_id, removed)  # type: ignore[arg-type]

        async def gone() -> list[str] | None:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return texts if "carol's message a moderator removes" not in texts else None

        texts = await wait_for(gone, 60)
        # Same queue, in order: the refused one was settled before, and is still there.
        assert "carol keeps this" in texts
    finally:
        await nobody.close()
        await mod.close()


async def test_a_reaction_is_taken_away_on_rocketchat_only_by_the_person_who_reacted(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    """Rocket.Chat's chat.react takes away the caller's own reaction only: a moderator's
    redaction of bob's reaction must not remove the moderator's own, and cannot remove
    bob's; bob's own redaction does."""
    carol = await bridge_stack.rc_user()
    bob_user, mod_user = await make_user(1), await make_user(0)
    room = await portal([carol], [bob_user, mod_user])
    bob, mod = MatrixView(bob_user), MatrixView(mod_user)
    rid = RoomID(room.matrix_room_id)
    try:
        carol_msg, carol_event = await say(carol, room, bob, "react to this")
        relates = {"rel_type": "m.annotation", "event_id": carol_event, "key": "👍"}
        bobs = await bob.send(rid, {"m.relates_to": relates}, "m.reaction")
        await mod.send(rid, {"m.relates_to": relates}, "m.reaction")
        names = {
            user.user_id: await wait_for(_shadow(bridge_stack, user.user_id), 60)
            for user in (bob_user, mod_user)
        }

        async def reacted() -> set[str] | None:
            message = await carol.get_message(RCMessageID(carol_msg))
            people = {str(name) for name in message.reactions.get(":thumbsup:", ())}
            return people if people == set(names.values()) else None

        await wait_for(reacted, 60)
        await _grant(bridge_stack, rid, mod_user.user_id, 50)
        await mod.client.redact(rid, bobs)

        async def refused() -> bool:
            entries = await AuditLog(bridge_stack.app.db).newest(kind=REFUSED, limit=100)
            return any(e.details.get("event_id") == bobs for e in entries)

        await wait_for(refused, 60)
        await bob.send(rid, {"msgtype": "m.text", "body": "bob after the redaction"})

        async def after() -> bool:
            texts = [m.text for m in await rc_history(carol, room.rc_room_id)]
            return "bob after the redaction" in texts

        await wait_for(after, 60)  # same queue: the redaction was settled before
        assert await reacted() == set(names.values()), "the moderator's own reaction stays"
        await bob.client.redact(rid, bobs)

        async def only_mod() -> bool:
            message = await carol.get_message(RCMessageID(carol_msg))
            return list(message.reactions.get(":thumbsup:", ())) == [names[mod_user.user_id]]

        await wait_for(only_mod, 60)
    finally:
        await bob.close()
        await mod.close()


def _shadow(stack: BridgeStack, user_id: str) -> Callable[[], Awaitable[str | None]]:
    """A probe for the Rocket.Chat username of ``user_id``'s shadow, once it exists."""

    async def username() -> str | None:
        async with stack.app.db.unit_of_work() as uow:
            shadow = await uow.bridging.shadow(user_id)
        return None if shadow is None else shadow.rc_username

    return username
