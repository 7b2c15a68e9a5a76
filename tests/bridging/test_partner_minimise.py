"""A room holding a partner under ``minimise`` (for everyone in it: Matrix sends one event
to all servers of a room) gets a Rocket.Chat file as its name and a link only, and
Rocket.Chat people as personas: a Matrix id and a name derived from a keyed hash, per
set of such partners, never an avatar. The ledger records exactly what was sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from mautrix.errors import MNotFound
from mautrix.types import EventType, RoomID
from sqlalchemy import select

from bridge.ids import RCRoomID
from bridge.privacy.hashing import content_hash
from bridge.privacy.partner_gate import room_minimised
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.privacy.queries import LedgerQueries
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.ledger_rows import Disclosure
from tests.bridging.helpers import MatrixView
from tests.erasure.helpers import erase, redacted_on, seen_redacted
from tests.fixtures.bridge_stack import (
    BRIDGE_RC_PASSWORD,
    BRIDGE_RC_USER,
    FAST,
    BridgeStack,
    Portal,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _events(stack: BridgeStack, index: int, room: str) -> list[dict[str, object]]:
    hs = stack.homeservers.homeserver(index)
    token = stack.homeservers.admin(index).access_token
    url = f"{hs.client_url}/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit=200"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        body = await resp.json()
    return [e["content"] for e in body.get("chunk", []) if e.get("type") == "m.room.message"]


async def test_files_cross_as_links_only_into_a_minimised_room(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2 = stack.homeservers.server_names[1]
    register = PartnerRegister(stack.app.db)
    changes = PartnerChanges(
        organisation="Agency Two", lawful_basis="public_task", policy="minimise"
    )
    await register.set(hs2, changes, "cli:test")
    try:
        carol = await stack.rc_user()
        room = await portal([carol], [await make_user(1)])
        form = aiohttp.FormData()
        form.add_field(
            "file", b"%PDF-1.4 minutes", filename="minutes.pdf", content_type="application/pdf"
        )
        await carol.transport.call("POST", f"rooms.upload/{room.rc_room_id}", form=form)

        async def arrived() -> dict[str, object] | None:
            for c in await _events(stack, 1, room.matrix_room_id):
                if "minutes.pdf" in str(c.get("body")):
                    return c
            return None

        content = await wait_for(arrived, 60)
        assert content["msgtype"] == "m.text" and "url" not in content
        assert "shared as a link only" in str(content["body"]) and "/file-upload/" in str(
            content["body"]
        )

        page = await LedgerQueries(stack.app.db).disclosed_to(hs2, limit=10_000)
        mine = [i for i in page.items if i.room_id == room.matrix_room_id]
        assert mine and all("media" not in i.categories.labels for i in mine)
        assert any(i.categories.labels == ("file_name",) for i in mine)
    finally:
        await register.remove(hs2, "cli:test")


def _minimise(organisation: str) -> PartnerChanges:
    return PartnerChanges(organisation=organisation, lawful_basis="public_task", policy="minimise")


async def _minimised_by(stack: BridgeStack, room: RoomID, servers: set[str]) -> bool:
    """The bridge's view of the room holds exactly these minimise partners (the sends
    decide from it)."""
    async with stack.app.db.unit_of_work() as uow:
        found = await room_minimised(uow, room, stack.homeservers.server_names[0])
    return set(found) == servers


async def _said(
    rc: RCRestClient, room: Portal, view: MatrixView, text: str, contains: str | None = None
) -> dict[str, Any]:
    """Post on Rocket.Chat; the event as ``view`` sees it arrive."""
    await rc.post_message(RCRoomID(room.rc_room_id), text)

    async def arrived() -> dict[str, Any] | None:
        for e in await view.messages(room.matrix_room_id):
            if (contains or text) in str(e["content"].get("body")):
                return e
        return None

    return await wait_for(arrived, 60)


async def _member(view: MatrixView, room: RoomID, user_id: str) -> dict[str, Any] | None:
    """The content of the user's member event as ``view``'s server holds it."""
    try:
        state = await view.client.get_state_event(room, EventType.ROOM_MEMBER, user_id)
    except MNotFound:
        return None
    return dict(state.serialize())


async def _persona_named_in_the_ledger(
    stack: BridgeStack, server: str, room: RoomID, name: str
) -> bool:
    """A display-name disclosure to ``server`` in ``room`` whose content is ``name``."""
    page = await LedgerQueries(stack.app.db).disclosed_to(server, limit=10_000)
    ids = [i.disclosure_id for i in page.items if i.room_id == room]
    profiles = [
        i for i in page.items if i.room_id == room and "display_name" in i.categories.labels
    ]
    assert all(i.categories.labels == ("display_name",) for i in profiles), "never an avatar"
    async with stack.app.db.sessions() as session:
        hashes = set(
            await session.scalars(
                select(Disclosure.content_hash).where(
                    Disclosure.id.in_([i.disclosure_id for i in profiles])
                )
            )
        )
    assert ids
    return content_hash(stack.app.config.privacy.hash_key.encode(), name) in hashes


async def test_rocketchat_people_appear_as_personas_per_set_of_minimise_partners(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs1, hs2, hs3 = stack.homeservers.server_names
    register = PartnerRegister(stack.app.db)
    await register.set(hs2, _minimise("Agency Two"), "cli:test")
    await register.set(
        hs3, PartnerChanges(organisation="Agency Three", lawful_basis="public_task"), "cli:test"
    )
    carol = await stack.rc_user(display_name="Carolina Realname")
    dave = await stack.rc_user(display_name="Davide Realname")
    carol_name, dave_name = (await carol.me()).username, (await dave.me()).username
    real = [carol_name, dave_name, "Carolina", "Davide", "Realname"]
    hs2_user, hs3_user = await make_user(1), await make_user(2)
    hs2_view, hs3_view = MatrixView(hs2_user), MatrixView(hs3_user)
    views = [hs2_view, hs3_view]
    try:
        # An allow partner's room: the people's own ghosts, as ever.
        plain = await portal([carol], [hs3_user])
        event = await _said(carol, plain, hs3_view, "hello allowed")
        ghost = stack.app.ids.ghost_user_id(carol_name)
        assert event["sender"] == ghost
        member = await _member(hs3_view, plain.matrix_room_id, ghost)
        assert member is not None and member["displayname"] == "Carolina Realname"

        # A room with the minimise partner hs2.
        room = await portal([carol, dave], [hs2_user])
        await wait_for(lambda: _minimised_by(stack, room.matrix_room_id, {hs2}), 30)
        first = await _said(dave, room, hs2_view, "dave is here")
        said = await _said(carol, room, hs2_view, f"over to @{dave_name} now", "over to")
        sender = said["sender"]
        assert stack.app.ids.is_persona(sender) and sender.endswith(f":{hs1}")
        member = await _member(hs2_view, room.matrix_room_id, sender)
        assert member is not None
        name = member["displayname"]
        assert name.startswith("Participant ") and "avatar_url" not in member
        for word in real:
            assert word.lower() not in (sender + name).lower(), word
        # The mention points at dave's persona, under its name; nothing of dave's own.
        dave_persona = first["sender"]
        content = said["content"]
        assert stack.app.ids.is_persona(dave_persona) and dave_persona != sender
        dave_member = await _member(hs2_view, room.matrix_room_id, dave_persona)
        assert dave_member is not None
        dave_shown = dave_member["displayname"]
        assert content["body"] == f"over to {dave_shown} now"
        assert dave_persona in content["formatted_body"] and dave_shown in content["formatted_body"]
        assert content["m.mentions"] == {"user_ids": [dave_persona]}
        for word in real:
            assert word.lower() not in str(content).lower(), word
        # Carol's own ghost never entered the room.
        assert await _member(hs2_view, room.matrix_room_id, ghost) is None
        # Dave removed on Rocket.Chat: his persona leaves (his ghost, never in the room,
        # is asked too, harmlessly).
        admin = RCRestClient(stack.sim.url, retry=FAST)
        stack.rc_clients.append(admin)  # closed with the stack
        await admin.login(BRIDGE_RC_USER, BRIDGE_RC_PASSWORD)
        await admin.room_kick("channels", RCRoomID(room.rc_room_id), (await dave.me()).id)

        async def dave_left() -> bool:
            state = await _member(hs2_view, room.matrix_room_id, dave_persona)
            return state is not None and state["membership"] == "leave"

        assert await wait_for(dave_left, 30)
        # The ledger: the room's display-name disclosure to hs2 is the persona's name.
        assert await wait_for(
            lambda: _persona_named_in_the_ledger(stack, hs2, room.matrix_room_id, name), 30
        )
        assert not await _persona_named_in_the_ledger(
            stack, hs2, room.matrix_room_id, "Carolina Realname"
        )

        # hs3 under minimise too: a room shared with both gets another persona of carol,
        # and the allow room, now holding a minimise partner, gets one from here on.
        await register.set(hs3, _minimise("Agency Three"), "cli:test")
        hs2_again = await make_user(1)
        views.append(both_view := MatrixView(hs2_again))
        both = await portal([carol], [hs2_again, await make_user(2)])
        await wait_for(lambda: _minimised_by(stack, both.matrix_room_id, {hs2, hs3}), 30)
        other = await _said(carol, both, both_view, "to both partners")
        assert stack.app.ids.is_persona(other["sender"]) and other["sender"] != sender
        other_member = await _member(both_view, both.matrix_room_id, other["sender"])
        assert other_member is not None
        other_name = other_member["displayname"]
        assert other_name.startswith("Participant ") and other_name != name

        await wait_for(lambda: _minimised_by(stack, plain.matrix_room_id, {hs3}), 30)
        later = await _said(carol, plain, hs3_view, "hello minimised")
        assert stack.app.ids.is_persona(later["sender"])
        assert later["sender"] not in (sender, other["sender"]), "one persona per partner set"

        async def ghost_left() -> bool:
            state = await _member(hs3_view, plain.matrix_room_id, ghost)
            return state is not None and state["membership"] == "leave"

        assert await wait_for(ghost_left, 30), "the ghost no longer stands in the room"
    finally:
        for view in views:
            await view.close()
        await register.remove(hs2, "cli:test")
        await register.remove(hs3, "cli:test")


async def test_a_personas_reactions_deletions_and_erasure_come_from_the_persona(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    stack = bridge_stack
    hs2 = stack.homeservers.server_names[1]
    register = PartnerRegister(stack.app.db)
    await register.set(hs2, _minimise("Agency Two"), "cli:test")
    erin = await stack.rc_user(display_name="Erin Realname")
    erin_id = (await erin.me()).id
    hs2_user = await make_user(1)
    view = MatrixView(hs2_user)
    try:
        room = await portal([erin], [hs2_user])
        rid = room.matrix_room_id
        await wait_for(lambda: _minimised_by(stack, rid, {hs2}), 30)
        events = [await _said(erin, room, view, f"erin secret {i}") for i in range(2)]
        persona = events[0]["sender"]
        assert stack.app.ids.is_persona(persona)
        assert {e["sender"] for e in events} == {persona}
        async with stack.app.db.unit_of_work() as uow:
            assert [p.matrix_user_id for p in await uow.personas.of_person(erin_id)] == [persona]

        # A reaction on Rocket.Chat arrives from the persona; a deletion there is
        # redacted by the persona, which sent the message.
        history = await erin.room_history("channels", RCRoomID(room.rc_room_id), count=50)
        first = next(m for m in history if m.text == "erin secret 0")
        await erin.react(first.id, ":thumbsup:")

        async def reacted() -> dict[str, Any] | None:
            for e in await view.timeline(rid):
                if e["type"] == "m.reaction":
                    return e
            return None

        reaction = await wait_for(reacted, 30)
        assert reaction["sender"] == persona
        taken_back = await erin.post_message(RCRoomID(room.rc_room_id), "erin takes it back")
        said = await wait_for(lambda: _find(view, rid, "erin takes it back"), 30)
        await erin.delete_message(RCRoomID(room.rc_room_id), taken_back.id)
        assert await wait_for(lambda: redacted_on(view, rid, [said["event_id"]]), 30)
        gone = await view.event(rid, said["event_id"])
        assert gone["unsigned"]["redacted_because"]["sender"] == persona

        status = await erase(stack, erin_id)

        assert status.state.value == "done", status
        assert await seen_redacted(view, rid, [e["event_id"] for e in events])
        assert await seen_redacted(view, rid, [reaction["event_id"]])
        for e in events:  # by the persona that sent them, as the ghost would its own
            redacted = await view.event(rid, e["event_id"])
            assert redacted["unsigned"]["redacted_because"]["sender"] == persona
        member = await _member(view, rid, persona)
        assert member is not None and member["membership"] == "leave"
        # Forgotten: no row links the persona to the person any more.
        async with stack.app.db.unit_of_work() as uow:
            assert await uow.personas.of_person(erin_id) == []
            assert await uow.bridging.ghost_by_matrix(persona) is None
    finally:
        await view.close()
        await register.remove(hs2, "cli:test")


async def _find(view: MatrixView, room: RoomID, body: str) -> dict[str, Any] | None:
    for e in await view.messages(room):
        if e["content"].get("body") == body:
            return e
    return None
