"""A TLS front that serves a homeserver's ``/.well-known/matrix/support`` (Synapse does
not), on the homeserver's own loopback address, with a certificate from the sandbox CA.

The Matrix spec places the document at ``https://<hostname>/.well-known/matrix/support``
(port 443); a sandbox without the privilege to listen there uses another port, which
the bridge's ``SupportLookup.https_port`` names. Every other path is proxied to the
homeserver's client URL, so the front stands in for the homeserver's web server.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bridge.sandbox import keys

SUPPORT_PATH = "/.well-known/matrix/support"


class SupportFront:
    def __init__(
        self,
        ca: keys.KeyPair,
        host: str,
        port: int,
        *,
        document: dict[str, Any] | None = None,
        upstream: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.document = document
        self._upstream = upstream
        self._ca = ca
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}{SUPPORT_PATH}"

    async def start(self) -> None:
        pair = keys.issue_server_cert(self._ca, self.host, self.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "front.crt", Path(tmp) / "front.key"
            pair.write(cert, key)
            context.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_get(SUPPORT_PATH, self._support)
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _support(self, _: web.Request) -> web.Response:
        if self.document is None:
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        return web.json_response(self.document)

    async def _proxy(self, request: web.Request) -> web.Response:
        if self._upstream is None or self._session is None:
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        async with self._session.request(
            request.method,
            self._upstream + request.path_qs,
            data=await request.read(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        ) as resp:
            body = await resp.read()
            return web.Response(body=body, status=resp.status, content_type=resp.content_type)
