"""Files on the full stack: complete both ways, typed by their bytes, refused when they
must be, and never fetched from anywhere but Rocket.Chat's file routes.

The session bridge runs with ``bridge.max_media_bytes`` = 4 MiB (tests/fixtures/
bridge_stack.py), so a 3 MiB file crosses and a 4 MiB + 1 byte one is refused.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from bridge.ids import RCRoomID
from bridge.media import CUT_SHORT_RETRIES
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.models import OutboxAction
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MIB = 1024 * 1024


@dataclass
class Chat:
    stack: BridgeStack
    room: Portal
    carol: RCRestClient
    alice: MatrixView

    @property
    def ghost_prefix(self) -> str:
        return "@" + self.stack.registration.user_prefix

    async def rooms_upload(self, room_id: str, data: bytes, name: str, ctype: str) -> str:
        """Rocket.Chat's one-step ``rooms.upload`` as carol; returns the file id."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name, content_type=ctype)
        body = await self.carol.transport.call("POST", f"rooms.upload/{room_id}", form=form)
        return str(body["message"]["file"]["_id"])

    async def ghost_events(self) -> list[dict[str, Any]]:
        return await self.alice.messages(self.room.matrix_room_id, self.ghost_prefix)

    async def side_file(self, data: bytes, name: str, **serve: str) -> str:
        """A file uploaded in a room the bridge does not follow, served as ``serve`` says;
        returns its ``/file-upload/...`` link for an attachment in the bridged room."""
        side = await self.carol.room_create("channels", f"side-{uuid.uuid4().hex[:8]}")
        file_id = await self.rooms_upload(side.id, data, name, "application/octet-stream")
        self.stack.sim.state.uploads[file_id] |= serve
        return f"/file-upload/{file_id}/{name}"


@pytest_asyncio.fixture(loop_scope="session")
async def chat(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> AsyncIterator[Chat]:
    carol = await bridge_stack.rc_user()
    alice_user = await make_user(1)
    room = await portal([carol], [alice_user])
    alice = MatrixView(alice_user)
    try:
        yield Chat(bridge_stack, room, carol, alice)
    finally:
        await alice.close()


@dataclass
class Recorder:
    """A loopback server that is not Rocket.Chat: notes every request and its headers."""

    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path_qs, **request.headers})
        return web.Response(body=b'{"users": ["leaked"]}', content_type="application/json")


@pytest_asyncio.fixture(loop_scope="session")
async def foreign() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorder.url = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        await runner.cleanup()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_3_mib_rocketchat_upload_arrives_whole_and_typed_by_the_file(chat: Chat) -> None:
    data = os.urandom(3 * MIB)
    await chat.rooms_upload(chat.room.rc_room_id, data, "paper.pdf", "application/pdf")

    async def arrived() -> dict[str, Any] | None:
        for e in await chat.ghost_events():
            if e["content"].get("body") == "paper.pdf" and "url" in e["content"]:
                return dict(e["content"])
        return None

    content = await wait_for(arrived, 60)
    got = await chat.alice.client.download_media(content["url"])
    assert sha(got) == sha(data)
    assert content["info"] == {"mimetype": "application/pdf", "size": len(data)}
    assert content["msgtype"] == "m.file"


async def test_a_3_mib_matrix_file_arrives_whole_on_rocketchat(chat: Chat) -> None:
    data = os.urandom(3 * MIB)
    mxc = await chat.alice.client.upload_media(data, mime_type="audio/ogg", filename="talk.ogg")
    await chat.alice.send(
        chat.room.matrix_room_id,
        {"msgtype": "m.audio", "body": "talk.ogg", "url": mxc, "info": {"size": len(data)}},
    )

    async def uploaded() -> dict[str, Any] | None:
        for m in await rc_history(chat.carol, chat.room.rc_room_id):
            for f in m.files:
                if f.name == "talk.ogg":
                    return dict(chat.stack.sim.state.uploads[f.id])
        return None

    record = await wait_for(uploaded, 60)
    assert sha(record["data"]) == sha(data)
    assert record["size"] == len(data)
    assert record["type"] == "audio/ogg"


async def _refusal(chat: Chat, link: str, name: str) -> tuple[str, str]:
    """Post ``link`` as an attachment; the ghost's notice on Matrix once it arrives, and the
    key of the upload action."""
    message = await chat.carol.post_message(
        RCRoomID(chat.room.rc_room_id), "", attachments=[{"title": name, "title_link": link}]
    )

    async def notice() -> str | None:
        for e in await chat.ghost_events():
            body = str(e["content"].get("body") or "")
            if e["content"].get("msgtype") == "m.notice" and "could not be bridged" in body:
                return body
        return None

    body = await wait_for(notice, 60)
    bodies = [e["content"].get("body") for e in await chat.ghost_events()]
    assert name not in bodies, "the refused file must not arrive as if it were complete"
    return body, f"rc-msg:{message.id}:1"


async def test_a_chunked_file_over_the_limit_is_refused_with_a_notice(chat: Chat) -> None:
    limit = chat.stack.config.bridge.max_media_bytes
    link = await chat.side_file(os.urandom(limit + 1), "huge.bin", serve="chunked")
    body, _key = await _refusal(chat, link, "huge.bin")
    assert f"larger than the limit of {limit} bytes" in body
    assert "huge.bin" not in body


async def test_a_file_cut_short_is_refused_with_a_notice(chat: Chat) -> None:
    link = await chat.side_file(os.urandom(MIB), "half.bin", serve="cut_short")
    body, key = await _refusal(chat, link, "half.bin")
    assert "cut short" in body
    async with chat.stack.app.db.sessions() as session:
        row = await session.scalar(select(OutboxAction).where(OutboxAction.key == key))
    # Tried again (a dropped connection may be passing), then refused for good: the queue
    # moves on.
    assert row is not None and row.status == "done"
    assert row.attempts == CUT_SHORT_RETRIES


async def test_hostile_attachment_links_get_no_credentials_and_nothing_from_the_api(
    chat: Chat, foreign: Recorder
) -> None:
    port = foreign.url.rsplit(":", 1)[1]
    redirect = await chat.side_file(
        b"x" * 100, "moved.bin", serve="redirect", redirect_to=f"{foreign.url}/moved"
    )
    attachments = [
        {"title": "own host", "title_link": f"{foreign.url}/steal"},
        {"title": "userinfo", "title_link": f"@127.0.0.1:{port}/userinfo"},
        {"title": "scheme-relative", "title_link": f"//127.0.0.1:{port}/file-upload/a/b"},
        {"title": "picture", "image_url": f"{foreign.url}/pic.png"},
        {"title": "users", "title_link": "/api/v1/users.list"},
        {"title": "climb", "title_link": "/file-upload/%2e%2e/api/v1/users.list"},
        {"title": "moved", "title_link": redirect},
    ]
    await chat.carol.post_message(
        RCRoomID(chat.room.rc_room_id), "look at these", attachments=attachments
    )

    async def text_arrived() -> str | None:
        for e in await chat.ghost_events():
            if str(e["content"].get("body", "")).startswith("look at these"):
                return str(e["content"]["body"])
        return None

    async def moved_refused() -> bool:
        return any(
            "another address" in str(e["content"].get("body", ""))
            for e in await chat.ghost_events()
        )

    text = await wait_for(text_arrived, 60)
    assert await wait_for(moved_refused, 60)
    # Web links are shown, not fetched; the rest is dropped.
    assert f"own host: {foreign.url}/steal" in text
    assert f"picture: {foreign.url}/pic.png" in text
    assert "/api/v1/users.list" not in text
    assert f"@127.0.0.1:{port}" not in text
    assert not any("x-auth-token" in {k.lower() for k in r} for r in foreign.requests)
    assert foreign.requests == [], "nothing but Rocket.Chat's file routes is fetched"
    for e in await chat.ghost_events():
        assert "url" not in e["content"], "no file came out of these links"
        assert "leaked" not in str(e["content"]) and "emails" not in str(e["content"])
