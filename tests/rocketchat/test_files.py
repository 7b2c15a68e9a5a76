"""Rocket.Chat file fetches: which links get the credentials, and whole bodies only.

A loopback aiohttp app stands in for Rocket.Chat (its file routes) and another for a
foreign host that records whether it ever saw the bridge's ``X-Auth-Token``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bridge.ids import RCUserID
from bridge.media import FileCutShort, FileRefused, FileTooLarge, file_mimetype
from bridge.pipeline.contracts import RetryLater, Unavailable
from bridge.rctypes.links import FileLinks
from bridge.rctypes.models import RCLogin
from bridge.rocketchat.errors import RCProtocolError
from bridge.rocketchat.files import FileFetcher, outbox_fetcher
from bridge.rocketchat.transport import RCTransport, RetryPolicy

TOKEN = "bridge-admin-token"  # noqa: S105 - a test value
MIB = 1024 * 1024


@dataclass
class Server:
    url: str
    seen_tokens: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> tuple[web.AppRunner, Server]:
    server = Server("")

    async def record(request: web.Request) -> web.StreamResponse:
        server.paths.append(request.path_qs)
        if "X-Auth-Token" in request.headers:
            server.seen_tokens.append(request.headers["X-Auth-Token"])
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return runner, server


BIG = os.urandom(3 * MIB)


async def _rocketchat(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path == "/file-upload/big/paper.pdf":
        return web.Response(body=BIG, content_type="application/pdf")
    if path == "/file-upload/chunked/x.bin":
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(5):
            await resp.write(b"\0" * (256 * 1024))
        await resp.write_eof()
        return resp
    if path == "/file-upload/short/x.bin":
        resp = web.StreamResponse()
        resp.content_length = 1 * MIB
        await resp.prepare(request)
        await resp.write(b"\1" * (MIB // 2))
        assert request.transport is not None
        request.transport.close()
        return resp
    if path.startswith("/file-upload/status/"):
        return web.Response(status=int(path.rsplit("/", 1)[-1]))
    if path.startswith("/file-upload/redirect/"):
        raise web.HTTPFound(request.query["to"])
    return web.Response(text='{"users": [{"emails": ["leak@example.org"]}]}')


@dataclass
class Rig:
    rc: Server
    foreign: Server
    fetcher: FileFetcher


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rc_runner, rc = await _serve(_rocketchat)
    foreign_runner, foreign = await _serve(_rocketchat)
    transport = RCTransport(rc.url, login=RCLogin(RCUserID("bridgebot"), TOKEN))
    try:
        yield Rig(rc, foreign, FileFetcher(FileLinks(rc.url), transport))
    finally:
        await transport.close()
        await rc_runner.cleanup()
        await foreign_runner.cleanup()


async def test_a_3_mib_file_arrives_whole_with_its_served_type(rig: Rig) -> None:
    got = await rig.fetcher.fetch("/file-upload/big/paper.pdf", 4 * MIB)
    assert hashlib.sha256(got.data).digest() == hashlib.sha256(BIG).digest()
    assert got.mimetype == "application/pdf"
    assert rig.rc.seen_tokens == [TOKEN]


async def test_a_body_without_content_length_is_cut_off_at_the_limit(rig: Rig) -> None:
    with pytest.raises(FileTooLarge) as refused:
        await rig.fetcher.fetch("/file-upload/chunked/x.bin", MIB)
    assert f"limit of {MIB} bytes" in refused.value.reason
    # Under the limit the same stream is read to its end.
    whole = await rig.fetcher.fetch("/file-upload/chunked/x.bin", 2 * MIB)
    assert whole.size == 5 * 256 * 1024


async def test_a_body_shorter_than_its_content_length_is_refused(rig: Rig) -> None:
    with pytest.raises(FileCutShort):
        await rig.fetcher.fetch("/file-upload/short/x.bin", 4 * MIB)


@pytest.mark.parametrize(
    "link",
    [
        "{foreign}/file-upload/a/b",
        "{rc}@127.0.0.1:{fport}/file-upload/a/b",
        "@127.0.0.1:{fport}/file-upload/a/b",
        "//127.0.0.1:{fport}/file-upload/a/b",
        "http://bridgebot@127.0.0.1:{fport}/file-upload/a/b",
        "{rc}\\@127.0.0.1:{fport}/file-upload/a/b",
    ],
)
async def test_credentials_never_leave_the_configured_origin(rig: Rig, link: str) -> None:
    fport = rig.foreign.url.rsplit(":", 1)[1]
    with pytest.raises(FileRefused):
        await rig.fetcher.fetch(
            link.format(foreign=rig.foreign.url, rc=rig.rc.url, fport=fport), MIB
        )
    assert rig.foreign.paths == [] and rig.rc.paths == []


@pytest.mark.parametrize(
    "link",
    [
        "/api/v1/users.list",
        "{rc}/api/v1/users.list",
        "/file-upload/../api/v1/users.list",
        "/file-upload/%2e%2e/api/v1/users.list",
        "/file-upload/%2E%2E%2Fapi/v1/users.list",
        "/file-upload/a\\..\\..\\api/v1/users.list",
        "{rc}/file-upload/a/../../api/v1/users.list",
        "/avatar/../api/v1/users.list",
    ],
)
async def test_only_file_routes_are_fetched(rig: Rig, link: str) -> None:
    with pytest.raises(FileRefused):
        await rig.fetcher.fetch(link.format(rc=rig.rc.url), MIB)
    assert rig.rc.paths == []


async def test_a_redirect_to_another_origin_is_not_followed(rig: Rig) -> None:
    target = f"{rig.foreign.url}/file-upload/big/paper.pdf"
    with pytest.raises(FileRefused):
        await rig.fetcher.fetch(f"/file-upload/redirect/x?to={target}", 4 * MIB)
    assert rig.foreign.paths == []


async def test_a_redirect_within_the_file_routes_is_followed(rig: Rig) -> None:
    got = await rig.fetcher.fetch("/file-upload/redirect/x?to=/file-upload/big/paper.pdf", 4 * MIB)
    assert got.size == len(BIG)
    with pytest.raises(FileRefused):
        await rig.fetcher.fetch("/file-upload/redirect/x?to=/api/v1/users.list", 4 * MIB)
    assert "/api/v1/users.list" not in rig.rc.paths


def test_file_links_accept_uploads_and_avatars_of_the_origin_only() -> None:
    links = FileLinks("https://chat.example.org")
    assert links.is_file("/file-upload/abc/r%C3%A9sum%C3%A9.pdf")
    assert links.is_file("https://chat.example.org:443/ufs/FileSystem:Uploads/abc/x.png")
    assert links.is_file("/avatar/room/abc")
    assert not links.is_file("http://chat.example.org/file-upload/abc/x.png")  # scheme
    assert not links.is_file("https://chat.example.org:8443/file-upload/abc/x.png")  # port
    assert not links.is_file("https://chat.example.org.evil/file-upload/abc/x.png")
    assert not links.is_file("/file-upload/abc/x.png\r\nX-Evil: 1")


def test_the_type_comes_from_the_file_not_the_attachment_kind() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 10
    assert file_mimetype("image/png; charset=binary", png) == "image/png"
    assert file_mimetype("application/octet-stream", png, "x.bin") == "image/png"
    assert file_mimetype(None, b"plain", "notes.txt") == "text/plain"
    assert file_mimetype("file", b"plain", None) == "application/octet-stream"


async def test_an_api_redirect_is_not_followed_with_the_credentials(rig: Rig) -> None:
    """The REST transport carries the same headers: a redirect (to another origin, or
    anywhere) is an error naming the setting, never a second request."""
    transport = RCTransport(
        f"{rig.rc.url}/file-upload/redirect/x?to={rig.foreign.url}/api/v1/me#",
        login=RCLogin(RCUserID("bridgebot"), TOKEN),
        retry=RetryPolicy(attempts=1),
    )
    try:
        with pytest.raises(RCProtocolError, match="rocketchat.url"):
            await transport.call("GET", "me")
    finally:
        await transport.close()
    assert rig.foreign.paths == [] and rig.foreign.seen_tokens == []


def test_upload_ids_name_the_stored_file_and_never_an_avatar() -> None:
    links = FileLinks("https://chat.example.org")
    assert links.upload_id("/file-upload/abc123/x.png") == "abc123"
    assert links.upload_id("https://chat.example.org/ufs/FileSystem:Uploads/abc123/x") == "abc123"
    assert links.upload_id("/avatar/abc123") is None
    assert links.upload_id("https://evil.example/file-upload/abc123/x.png") is None


async def test_in_the_outbox_an_away_server_spends_no_attempt(rig: Rig) -> None:
    fetch = outbox_fetcher(rig.fetcher, MIB)
    for status in (502, 503, 504, 429):
        with pytest.raises(Unavailable):
            await fetch(f"/file-upload/status/{status}")
    with pytest.raises(RetryLater) as retried:
        await fetch("/file-upload/status/500")
    assert not isinstance(retried.value, Unavailable)
    for status in (403, 404):
        with pytest.raises(FileRefused):
            await fetch(f"/file-upload/status/{status}")
