"""Driving ``!privacy`` through real clients: a Matrix DM with the bot, a Rocket.Chat DM
with the bridge's account, and reading the answers."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jsonschema
from mautrix.errors import MatrixRequestError
from mautrix.types import ContentURI, PaginationDirection, RoomAlias, RoomID

from bridge.commands.export import schema
from bridge.ids import RCRoomID
from bridge.rocketchat.rest import RCRestClient, RoomKind
from tests.bridging.helpers import MatrixView
from tests.fixtures.bridge_stack import BRIDGE_RC_USER, BridgeStack, wait_for

CODE = re.compile(r"!privacy delete confirm ([A-Z0-9]{8})")


async def matrix_dm(stack: BridgeStack, view: MatrixView) -> RoomID:
    """A DM with the bot, opened the way clients do (``is_direct`` on the invite)."""
    room = await view.client.create_room(invitees=[stack.registration.sender], is_direct=True)

    async def joined() -> bool:
        return stack.registration.sender in await view.client.get_joined_members(room)

    await wait_for(joined, 30)
    return room


async def bot_notices(view: MatrixView, room: RoomID, bot: str) -> list[str]:
    return [
        str(e["content"].get("body"))
        for e in await view.timeline(room)
        if e["sender"] == bot
        and e["type"] == "m.room.message"
        and e["content"].get("msgtype") == "m.notice"
    ]


async def ask_matrix(
    stack: BridgeStack, view: MatrixView, room: RoomID, command: str, expect: str
) -> str:
    """Send ``command``; the bot's first new notice containing ``expect``."""
    before = len(await bot_notices(view, room, stack.registration.sender))
    await view.send(room, {"msgtype": "m.text", "body": command})

    async def answered() -> str | None:
        new = (await bot_notices(view, room, stack.registration.sender))[before:]
        return next((n for n in new if expect in n), None)

    return await wait_for(answered, 60)


async def bot_dm(stack: BridgeStack, view: MatrixView) -> RoomID:
    """The DM the bot opens itself to answer ``view``'s user privately (claimed through a
    derived alias), once it exists."""
    digest = hashlib.sha256(view.user.user_id.encode()).hexdigest()[:16]
    server = stack.homeservers.server_names[0]
    alias = RoomAlias(f"#{stack.registration.user_prefix}room_privacy_dm_{digest}:{server}")

    async def resolved() -> RoomID | None:
        bot = stack.bot_client()
        try:
            return (await bot.resolve_room_alias(alias)).room_id
        except MatrixRequestError:
            return None
        finally:
            await bot.api.session.close()

    return await wait_for(resolved, 60)


async def notice_in(stack: BridgeStack, room: RoomID, expect: str, after: int = 0) -> str:
    """The bot's first notice in ``room`` from index ``after`` on containing ``expect``,
    read on the bot's own homeserver (a remote member sees history before their join
    only once their server has backfilled it)."""

    async def found() -> str | None:
        try:
            new = (await bot_said(stack, room))[after:]
        except MatrixRequestError:
            # Synapse claims a new room's alias before the creator's join is persisted
            # (synapse/handlers/room.py, create_room): a moment when the bot is not in it.
            return None
        return next((n for n in new if expect in n), None)

    return await wait_for(found, 60)


async def bot_said(stack: BridgeStack, room: RoomID) -> list[str]:
    bot = stack.bot_client()
    try:
        resp = await bot.get_messages(room, PaginationDirection.BACKWARD, limit=300)
    finally:
        await bot.api.session.close()
    events = [e.serialize() for e in reversed(resp.events)]
    return [
        str(e["content"].get("body"))
        for e in events
        if e["sender"] == stack.registration.sender
        and e["type"] == "m.room.message"
        and e["content"].get("msgtype") == "m.notice"
    ]


async def rc_dm(user: RCRestClient) -> str:
    return str((await user.im_create(BRIDGE_RC_USER)).id)


async def rc_bot_texts(user: RCRestClient, room: str, kind: RoomKind = "im") -> list[str]:
    history = await user.room_history(kind, RCRoomID(room), count=200)
    return [m.text for m in reversed(history) if m.user.username == BRIDGE_RC_USER]


async def ask_rc(
    user: RCRestClient, room: str, command: str, expect: str, kind: RoomKind = "im"
) -> str:
    before = len(await rc_bot_texts(user, room, kind))
    await user.post_message(RCRoomID(room), command)

    async def answered() -> str | None:
        new = (await rc_bot_texts(user, room, kind))[before:]
        return next((t for t in new if expect in t), None)

    return await wait_for(answered, 60)


def valid_export(document: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(document, schema(), format_checker=jsonschema.FormatChecker())
    return document


async def matrix_export(view: MatrixView, room: RoomID, bot: str) -> dict[str, Any]:
    async def file_event() -> dict[str, Any] | None:
        for e in await view.timeline(room):
            if e["sender"] == bot and e["content"].get("msgtype") == "m.file":
                return e
        return None

    event = await wait_for(file_event, 60)
    assert event["content"]["info"]["mimetype"] == "application/json"
    data = await view.client.download_media(ContentURI(event["content"]["url"]))
    return valid_export(json.loads(data))


async def rc_export(stack: BridgeStack, user: RCRestClient, room: str) -> dict[str, Any]:
    async def uploaded() -> str | None:
        for m in await user.room_history("im", RCRoomID(room), count=200):
            for a in m.attachments:
                if a.title_link and m.user.username == BRIDGE_RC_USER:
                    return a.title_link
        return None

    link = await wait_for(uploaded, 60)
    transport = user.transport
    async with transport.session.get(
        stack.sim.url + link, headers=transport.auth_headers()
    ) as resp:
        assert resp.status == 200
        return valid_export(json.loads(await resp.read()))
