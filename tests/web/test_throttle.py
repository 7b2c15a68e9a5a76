"""Failed logins are throttled per source and per credential, audited without the
credential, never lock out the right token, and believe X-Forwarded-For only from the
configured proxies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from bridge.config import ConfigError, load_config
from bridge.privacy import audit
from bridge.privacy.audit import AuditEntry, AuditLog
from bridge.storage.database import Database
from bridge.web.throttle import LoginThrottle, client_address, parse_networks, source_key
from tests.fixtures.bridge_config import write_config
from tests.web.conftest import Site
from tests.web.seed import ADMIN_TOKEN, METRICS_TOKEN, dashboard_config, seed, serve

Client = TestClient[web.Request, web.Application]
WRONG = "wrong-token-" + "x" * 30  # noqa: S105
RIGHT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str, forwarded_for: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return headers


async def refusals(db: Database) -> list[AuditEntry]:
    return await AuditLog(db).newest(kind=audit.ADMIN_LOGIN_REFUSED, limit=1000)


@pytest_asyncio.fixture
async def behind_proxy(db: Database, tmp_path: Path) -> AsyncIterator[Client]:
    """The dashboard behind a reverse proxy on 127.0.0.1 (the test client's address)."""
    config = dashboard_config(tmp_path, db.url)
    config = replace(config, web=replace(config.web, trusted_proxies=["127.0.0.1/32"]))
    await seed(db, config)
    async with serve(db, config) as (client, _engine):
        yield client


async def test_failed_bearer_calls_are_throttled_and_audited_without_the_token(
    site: Site,
) -> None:
    statuses = []
    for _ in range(30):
        resp = await site.client.get("/admin/api/overview", headers=bearer(WRONG))
        statuses.append(resp.status)
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429
    entries = await refusals(site.db)
    # Audited up to the failure that tripped the throttle, not once per attempt of a flood.
    assert 5 <= len(entries) <= 11
    first = entries[-1]
    assert first.actor == "api:anonymous"
    assert first.details["method"] == "bearer"
    assert first.details["source"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{8}", first.details["credential"])
    assert any(e.details["throttled"] for e in entries)
    assert all(WRONG not in str(e.details) and WRONG not in e.actor for e in entries)


async def test_the_right_bearer_token_gets_in_while_its_source_is_throttled(site: Site) -> None:
    for _ in range(30):
        await site.client.get("/admin/api/overview", headers=bearer(WRONG))
    assert (await site.client.get("/admin/api/overview", headers=bearer(WRONG))).status == 429
    resp = await site.client.get("/admin/api/overview", headers=RIGHT)
    assert resp.status == 200


async def _form_login(client: Client, token: str) -> int:
    form = await client.get("/admin/login")
    match = re.search(r'name="login_csrf" value="([^"]+)"', await form.text())
    assert match
    resp = await client.post(
        "/admin/login",
        data={"login_csrf": match.group(1), "method": "token", "token": token},
        allow_redirects=False,
    )
    return resp.status


async def test_the_right_token_logs_in_through_the_form_while_its_source_is_throttled(
    site: Site,
) -> None:
    statuses = [await _form_login(site.client, f"guess-{n}") for n in range(15)]
    assert statuses[0] == 401 and statuses[-1] == 429
    assert await _form_login(site.client, ADMIN_TOKEN) == 303
    assert (await site.client.get("/admin/", allow_redirects=False)).status == 200


async def test_behind_a_trusted_proxy_one_attacker_does_not_throttle_everyone(
    behind_proxy: Client,
) -> None:
    for n in range(30):
        await behind_proxy.get("/admin/api/overview", headers=bearer(f"guess-{n}", "203.0.113.5"))
    attacker = await behind_proxy.get(
        "/admin/api/overview", headers=bearer("guess-x", "203.0.113.5")
    )
    assert attacker.status == 429
    # Another officer behind the same proxy, with a typo: refused, not throttled.
    other = await behind_proxy.get(
        "/admin/api/overview", headers=bearer("typo-" + "y" * 30, "198.51.100.7")
    )
    assert other.status == 401


async def test_one_credential_is_throttled_across_sources(behind_proxy: Client) -> None:
    statuses = [
        (
            await behind_proxy.get("/admin/api/overview", headers=bearer(WRONG, f"198.51.100.{n}"))
        ).status
        for n in range(1, 10)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429


async def test_forwarded_for_is_ignored_from_untrusted_peers(site: Site) -> None:
    # No trusted proxies: rotating X-Forwarded-For does not escape the throttle.
    statuses = [
        (
            await site.client.get(
                "/admin/api/overview", headers=bearer(f"guess-{n}", f"198.51.100.{n}")
            )
        ).status
        for n in range(1, 30)
    ]
    assert statuses[-1] == 429
    entries = await refusals(site.db)
    assert {e.details["source"] for e in entries} == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        # Entries left of the last untrusted hop were written by the client: not believed.
        ("10.0.0.2", "1.1.1.1, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5, 10.0.0.3", "203.0.113.5"),
        ("10.0.0.2", "garbage", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("192.0.2.9", "203.0.113.5", "192.0.2.9"),  # not a trusted proxy
    ],
)
def test_client_address(peer: str, forwarded: str | None, client: str) -> None:
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    request = make_mocked_request("GET", "/", headers=headers)
    request = request.clone(remote=peer)
    assert client_address(request, parse_networks(["10.0.0.0/24"])) == client


def test_memory_stays_bounded_however_many_tokens_are_tried() -> None:
    throttle = LoginThrottle(max_keys=100)
    for n in range(1_000):
        throttle.failed("203.0.113.5", f"cred-{n}", now=1.0)
    assert len(throttle) <= 100
    # The busy source is still remembered (it is touched on every failure).
    assert throttle.failed("203.0.113.5", "cred-x", now=1.0).throttled


async def test_failed_metrics_bearer_calls_are_throttled_and_audited(site: Site) -> None:
    statuses = [
        (await site.client.get("/metrics", headers=bearer(WRONG))).status for _ in range(20)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429
    entries = await refusals(site.db)
    assert entries and all(e.actor == "metrics:anonymous" for e in entries)
    ok = await site.client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert ok.status == 200


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", web={"trusted_proxies": ["10.0.0.0/8", "proxy"]})
    with pytest.raises(ConfigError, match=r"^web\.trusted_proxies\[1\]: must be an IP"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # same host's /64: one key
        ("::ffff:203.0.113.5", "::ffff:203.0.113.5"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_sources_are_counted_per_64(address: str, key: str) -> None:
    assert source_key(address) == key
