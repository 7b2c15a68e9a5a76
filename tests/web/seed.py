"""A dashboard over a seeded database: known disclosures, subjects and erasure requests,
served by the bridge's own ``build_http_app`` on a loopback port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bridge.app import build_http_app
from bridge.config import Config
from bridge.config.load import load_config
from bridge.ids import RCRoomID, RoomID, UserID
from bridge.privacy.categories import Category, Origin
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_model import Requester, RequesterSide
from bridge.privacy.incident_run import open_incident
from bridge.privacy.ledger import DisclosureLedger, LedgerSettings, rocketchat_recipient
from bridge.privacy.notices import SupportLookup
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, BOB, BOT, ROOM, member, message, rc

ADMIN_TOKEN = "dashboard-admin-token-for-tests-0123456789"  # noqa: S105
METRICS_TOKEN = "metrics-token-for-tests-0123456789"  # noqa: S105
OFFICER = "@officer:hs1.test"
DAY = 86_400_000
# Names from outside are displayed: one carries markup, to prove it is escaped.
HOSTILE_SERVER = "evil<b>x</b>.test"


@dataclass(frozen=True)
class Seeded:
    approve_id: str  # verified, waiting for an officer (admin-approval mode)
    deny_id: str  # received, not yet verified
    overdue_id: str  # verified, past its due date
    incident_id: str  # a dry run about the hostile server


def dashboard_config(tmp: Path, db_url: str, openid_url: str = "http://127.0.0.1:1") -> Config:
    path = write_config(
        tmp / "config.yaml",
        database={"url": db_url},
        privacy={"mode": "admin-approval", "admins": [OFFICER]},
        web={
            "enabled": True,
            "admin_token": ADMIN_TOKEN,
            "cookie_secure": False,
            "openid_servers": {"hs1.test": openid_url},
            "session_secret": "session-secret-for-tests-0123456789",
        },
        metrics={"bearer_token": METRICS_TOKEN},
    )
    return load_config(path)


def seed_ledger(config: Config) -> DisclosureLedger:
    return DisclosureLedger(
        LedgerSettings(
            local_server=config.homeserver.domain,  # type: ignore[arg-type]
            rocketchat=rocketchat_recipient(config.rocketchat.url),
            hash_key=config.privacy.hash_key.encode(),
        )
    )


async def seed(db: Database, config: Config) -> Seeded:
    """Three recipients over the last days, two subjects, three requests."""
    ledger = seed_ledger(config)
    now = int(time.time() * 1000)
    start = now - 5 * DAY
    async with db.unit_of_work() as uow:
        await ledger.bind_room(uow, RoomID(ROOM), RCRoomID("GENERAL"))
    await member(db, ledger, BOT, "join", start)
    await member(db, ledger, BOB.user_id, "join", start + 1)
    await member(db, ledger, UserID(f"@mallory:{HOSTILE_SERVER}"), "join", start + 2)
    for day in range(5):
        for n in range(day + 1):  # 1, 2, 3, 4, 5 items on successive days
            await message(db, ledger, ALICE, start + day * DAY + 10 + n)
    await message(db, ledger, rc("rcCarol", "carol"), start + 3 * DAY + 100)
    await message(db, ledger, BOB, start + 4 * DAY + 200, origin=Origin.MATRIX,
                  categories=Category.MESSAGE_TEXT | Category.MEDIA)  # fmt: skip
    engine = ErasureEngine(db, erasure_settings(config))
    approve_id = await engine.request(
        "alice", Requester("rcAlice", RequesterSide.ROCKETCHAT), verified=True
    )
    deny_id = await engine.request(BOB.user_id, Requester(BOB.user_id, RequesterSide.MATRIX))
    overdue_id = await engine.request(
        "carol", Requester("rcCarol", RequesterSide.ROCKETCHAT), verified=True
    )
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE erasure_request SET due_ms = :due WHERE id = :id"),
            {"due": now - DAY, "id": overdue_id},
        )
    incident = await open_incident(
        db, HOSTILE_SERVER, since_ms=None, dry_run=True, deny=False, actor="cli:seed",
        organisation=config.homeserver.domain, contact_points=[],
        support=SupportLookup({}), mail_enabled=False,
    )  # fmt: skip
    return Seeded(approve_id, deny_id, overdue_id, incident.incident)


@asynccontextmanager
async def serve(
    db: Database, config: Config
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], ErasureEngine]]:
    engine = ErasureEngine(db, erasure_settings(config))
    app = build_http_app(config, db, lambda: None, engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, engine
    finally:
        await client.close()
