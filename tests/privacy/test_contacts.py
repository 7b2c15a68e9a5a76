"""Contacts of a recipient server: the partner register first, then the server's
published /.well-known/matrix/support (MSC1929), served for real over TLS on the
homeserver's own name, then the config; e-mail-only contacts count."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bridge.privacy.notices import SupportLookup, parse_support_contacts
from bridge.privacy.partner_values import Contact
from bridge.privacy.partners import PartnerChanges, PartnerRegister, contacts_of
from bridge.sandbox import keys
from bridge.sandbox.homeservers import HomeserverCluster
from bridge.sandbox.ports import free_ports
from bridge.sandbox.support_front import SupportFront
from bridge.storage.database import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def front(
    homeservers: HomeserverCluster,
) -> AsyncIterator[tuple[SupportFront, str, ssl.SSLContext]]:
    """A TLS front on the second homeserver's own address, proxying to it."""
    hs = homeservers.homeserver(1)
    host = hs.server_name.rsplit(":", 1)[0]
    ca = keys.make_ca("support front test CA")
    front = SupportFront(ca, host, free_ports(1, host)[0], upstream=hs.client_url)
    await front.start()
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    try:
        yield front, hs.server_name, context
    finally:
        await front.stop()


def _lookup(front: SupportFront, context: ssl.SSLContext, **kw: object) -> SupportLookup:
    return SupportLookup({}, ssl_context=context, https_port=front.port, **kw)  # type: ignore[arg-type]


async def test_published_matrix_and_email_contacts(
    front: tuple[SupportFront, str, ssl.SSLContext],
) -> None:
    support, server, context = front
    support.document = {
        "contacts": [
            {"role": "m.role.admin", "matrix_id": "@admin:hs2.example",
             "email_address": "admin@hs2.example"},
            {"role": "m.role.security", "email_address": "security@hs2.example"},
            {"role": "m.role.moderator", "email_address": "mods@hs2.example"},
        ]
    }  # fmt: skip
    found = await _lookup(support, context).contacts(server)
    assert found.source == "well-known"
    assert found.users == ("@admin:hs2.example",)
    assert found.emails == ("admin@hs2.example", "security@hs2.example")


async def test_email_only_contacts_are_honoured(
    front: tuple[SupportFront, str, ssl.SSLContext],
) -> None:
    support, server, context = front
    support.document = {"contacts": [{"role": "m.role.admin", "email_address": "dpo@hs2.example"}]}
    found = await _lookup(support, context).contacts(server)
    assert (found.source, found.users, found.emails) == ("well-known", (), ("dpo@hs2.example",))
    assert found.any


async def test_no_document_falls_back_to_config_then_none(
    front: tuple[SupportFront, str, ssl.SSLContext],
) -> None:
    support, server, context = front
    support.document = None
    lookup = SupportLookup(
        {server: ["@cfg:hs2.example"]}, ssl_context=context, https_port=support.port
    )
    found = await lookup.contacts(server)
    assert (found.source, found.users) == ("config", ("@cfg:hs2.example",))
    none = await _lookup(support, context).contacts(server)
    assert none.source == "none" and "answered 404" in (none.reason or "")


async def test_the_front_stands_in_for_the_homeserver(
    front: tuple[SupportFront, str, ssl.SSLContext],
) -> None:
    support, _, context = front
    url = f"https://{support.host}:{support.port}/_matrix/client/versions"
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as resp:
        assert resp.status == 200 and "versions" in await resp.json()


async def test_the_register_comes_first(
    front: tuple[SupportFront, str, ssl.SSLContext], tmp_path: Path
) -> None:
    support, server, context = front
    support.document = {"contacts": [{"role": "m.role.admin", "matrix_id": "@wk:hs2.example"}]}
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/r.db", pseudonym_key=b"k")
    await db.upgrade()
    try:
        changes = PartnerChanges(
            organisation="Agency Two", lawful_basis="public_task",
            contacts=(Contact(email="dpo@agency-two.example"),),
        )  # fmt: skip
        lookup = _lookup(support, context, register=contacts_of(db))
        assert (await lookup.contacts(server)).users == ("@wk:hs2.example",)
        await PartnerRegister(db).set(server, changes, "cli:test")
        found = await lookup.contacts(server)
        assert (found.source, found.users, found.emails) == (
            "register",
            (),
            ("dpo@agency-two.example",),
        )
    finally:
        await db.close()


async def test_published_addresses_the_bridge_would_not_accept_are_ignored() -> None:
    body = {
        "contacts": [
            {"role": "m.role.admin", "email_address": "a@x.org\r\nBcc: all@x.org"},
            {"role": "m.role.admin", "email_address": "ok@x.org"},
            {"role": "m.role.admin", "email_address": 7},
        ]
    }
    assert parse_support_contacts(body) == ((), ("ok@x.org",))
