"""Matrix media downloads for Rocket.Chat: checked mxc:// URIs, no redirects, whole bodies.

A loopback aiohttp app stands in for the homeserver's authenticated media endpoint.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from mautrix.api import HTTPAPI

from bridge.matrix.media import MatrixMediaFetcher
from bridge.media import FileRefused, FileTooLarge

MIB = 1024 * 1024
DATA = os.urandom(2 * MIB)


@dataclass
class Homeserver:
    fetcher: MatrixMediaFetcher
    paths: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)


@pytest.fixture
async def homeserver() -> AsyncIterator[Homeserver]:
    paths: list[str] = []
    auth: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        paths.append(request.path)
        auth.append(request.headers.get("Authorization", ""))
        media = request.path.rsplit("/", 1)[-1]
        if media == "moved":
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        if media == "gone":
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        resp = web.StreamResponse(headers={"Content-Type": "video/webm"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start in range(0, len(DATA), 100_000):
            await resp.write(DATA[start : start + 100_000])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    api = HTTPAPI(f"http://127.0.0.1:{runner.addresses[0][1]}", "as-token")
    try:
        yield Homeserver(MatrixMediaFetcher(api), paths, auth)
    finally:
        await api.session.close()
        await runner.cleanup()


async def test_a_whole_file_with_its_served_type(homeserver: Homeserver) -> None:
    got = await homeserver.fetcher.fetch("mxc://hs.example:8448/abcDEF_123-x", 4 * MIB)
    assert got.data == DATA and got.mimetype == "video/webm"
    assert homeserver.paths == ["/_matrix/client/v1/media/download/hs.example:8448/abcDEF_123-x"]
    assert homeserver.auth == ["Bearer as-token"]


async def test_the_limit_holds_without_content_length(homeserver: Homeserver) -> None:
    with pytest.raises(FileTooLarge):
        await homeserver.fetcher.fetch("mxc://hs.example/big", MIB)


@pytest.mark.parametrize(
    "mxc",
    [
        "mxc://../..",
        "mxc://hs.example/../../_synapse/admin/v1/users",
        "mxc://hs.example/..%2F..%2Fx",
        "mxc://hs.example/abc?x=1",
        "mxc://hs.example/abc/def",
        "https://hs.example/abc",
        "",
    ],
)
async def test_malformed_mxc_uris_are_refused_without_a_request(
    homeserver: Homeserver, mxc: str
) -> None:
    with pytest.raises(FileRefused):
        await homeserver.fetcher.fetch(mxc, MIB)
    assert homeserver.paths == []


async def test_redirects_and_missing_media_are_refused(homeserver: Homeserver) -> None:
    for media in ("moved", "gone"):
        with pytest.raises(FileRefused):
            await homeserver.fetcher.fetch(f"mxc://hs.example/{media}", MIB)
    assert len(homeserver.paths) == 2  # the redirect was not followed
