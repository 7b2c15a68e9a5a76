"""``/metrics`` names every recipient server and its volumes: never served to the network
without a token."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridge.app import BridgeApp, build_http_app, build_metrics_app
from bridge.config import ConfigError, load_config
from bridge.config.model import Config
from bridge.sandbox.ports import free_ports
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.web.seed import HOSTILE_SERVER, METRICS_TOKEN, seed

TOKEN = METRICS_TOKEN


def _config(tmp_path: Path, db: Database, **metrics: object) -> Config:
    path = write_config(tmp_path / "config.yaml", database={"url": db.url}, metrics=metrics)
    return load_config(path, environ={})


def _leaks(text: str) -> bool:
    return "bridge_" in text or "hs2.test" in text or HOSTILE_SERVER in text


async def test_default_config_serves_no_metrics_on_the_appservice_port(
    db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path, db)
    await seed(db, config)
    async with TestClient(TestServer(build_http_app(config, db, lambda: None))) as client:
        resp = await client.get("/metrics")
        assert resp.status == 404
        assert not _leaks(await resp.text())


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", "Bearer ", "Bearer ü"],
)
async def test_appservice_port_refuses_metrics_without_the_token(
    db: Database, tmp_path: Path, authorization: str | None
) -> None:
    config = _config(tmp_path, db, bearer_token=TOKEN)
    await seed(db, config)
    headers = {} if authorization is None else {"Authorization": authorization}
    async with TestClient(TestServer(build_http_app(config, db, lambda: None))) as client:
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert not _leaks(await resp.text())


async def test_the_token_opens_metrics_on_the_appservice_port(db: Database, tmp_path: Path) -> None:
    config = _config(tmp_path, db, bearer_token=TOKEN)
    await seed(db, config)
    async with TestClient(TestServer(build_http_app(config, db, lambda: None))) as client:
        resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 200
        text = await resp.text()
        assert 'recipient="hs2.test"' in text


async def test_own_listener_serves_only_metrics_and_needs_the_token_when_set(
    db: Database, tmp_path: Path
) -> None:
    open_config = _config(tmp_path, db, port=29339)
    await seed(db, open_config)
    async with TestClient(TestServer(build_metrics_app(open_config, db))) as client:
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/_bridge/health/live")).status == 404
        assert (await client.put("/_matrix/app/v1/transactions/1", json={})).status == 404
    locked = _config(tmp_path, db, port=29339, bearer_token=TOKEN)
    async with TestClient(TestServer(build_metrics_app(locked, db))) as client:
        assert (await client.get("/metrics")).status == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"hostname": "0.0.0.0", "port": 29339}, "metrics.bearer_token: is required"),  # noqa: S104
        ({"bearer_token": "short"}, "metrics.bearer_token: must be at least 24"),
        ({"port": 29330, "hostname": "127.0.0.1"}, "metrics.port: must differ"),
    ],
)
def test_metrics_config_that_would_expose_them_is_refused(
    tmp_path: Path, metrics: dict[str, object], message: str
) -> None:
    path = write_config(tmp_path / "config.yaml", metrics=metrics)
    with pytest.raises(ConfigError, match=f"^{message}"):
        load_config(path, environ={})


async def test_the_running_bridge_serves_metrics_on_its_own_loopback_port(
    db: Database, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    app = BridgeApp(_config(tmp_path, db, port=port))
    await app._serve_metrics()  # noqa: SLF001 - the one step of start() under test
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "bridge_outbox_pending_actions" in await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/_bridge/health/live") as resp:
                assert resp.status == 404
    finally:
        await app.stop()
