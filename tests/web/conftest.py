"""Fixtures of the dashboard tests: a seeded database and the bridge's HTTP app on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.config import Config
from bridge.privacy.erasure import ErasureEngine
from bridge.storage.database import Database
from tests.web.seed import Seeded, dashboard_config, seed, serve


class Site:
    def __init__(
        self,
        client: TestClient[web.Request, web.Application],
        engine: ErasureEngine,
        db: Database,
        config: Config,
        seeded: Seeded,
    ) -> None:
        self.client = client
        self.engine = engine
        self.db = db
        self.config = config
        self.seeded = seeded


@pytest_asyncio.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    config = dashboard_config(tmp_path, db.url)
    seeded = await seed(db, config)
    async with serve(db, config) as (client, engine):
        yield Site(client, engine, db, config, seeded)
