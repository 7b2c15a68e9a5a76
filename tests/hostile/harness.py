"""The bridge's intake and inbox worker in-process, on a real database, with real handlers.

Built like ``bridge.app.BridgeApp.start`` builds them (same dispatcher, same handlers),
minus the network: the outbox is filled but never drained, so nothing leaves the test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from yarl import URL

from bridge.app import build_http_app
from bridge.bridging.dispatch import Dispatcher, Route
from bridge.bridging.identities import Identities
from bridge.bridging.ledger_observer import LedgerObserver
from bridge.bridging.matrix_to_rc import MatrixToRocketChat
from bridge.bridging.portals import link_room
from bridge.bridging.rc_to_matrix import RocketChatToMatrix
from bridge.commands.bridge_admin import BridgeCommands
from bridge.commands.matrix_entry import MatrixCommands
from bridge.commands.parser import is_command
from bridge.config import Config, load_config
from bridge.ids import ServerName
from bridge.matrix.event_validation import read_event
from bridge.matrix.handlers import MatrixEventHandler
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_acks import ErasureAckHandler
from bridge.privacy.ledger import DisclosureLedger, LedgerSettings, rocketchat_recipient
from bridge.rctypes.links import FileLinks
from bridge.rocketchat import inbox_events
from bridge.rocketchat.intake import SOURCE as RC_SOURCE
from bridge.storage.database import Database
from bridge.storage.models import InboxEvent
from bridge.workers.inbox import InboxWorker
from tests.fixtures.bridge_config import write_config
from tests.hostile.matrix_events import PORTAL_ROOM

HS_TOKEN = "hs-token-for-tests"  # noqa: S105 - write_config's test value
AUTH = {"Authorization": f"Bearer {HS_TOKEN}"}
PORTAL_RC_ROOM = "rcPortalRoom0001"
RC_BOT_ID = "rcBridgeBot00001"


@dataclass(frozen=True)
class Row:
    id: int
    source: str
    event_id: str | None
    status: str
    attempts: int
    last_error: str | None
    payload: dict[str, Any]


@dataclass
class Harness:
    config: Config
    db: Database
    client: TestClient[Any, Any]
    worker: InboxWorker
    # Event ids stored so far in this database: a repeat is collapsed at intake, even
    # across hypothesis examples (which share the database of one test).
    seen: set[str] = field(default_factory=set)
    # Payloads as stored, read before the worker processes (and so blanks) them.
    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)

    async def put(
        self, txn: str, body: object | bytes, headers: dict[str, str] | None = None
    ) -> int:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = await self.client.put(
            URL(f"/_matrix/app/v1/transactions/{txn}", encoded=True),
            data=raw,
            headers=AUTH if headers is None else headers,
        )
        if resp.status not in (200, 404):
            answer = await resp.json()  # a Matrix error body, never an HTML error page
            assert isinstance(answer.get("errcode"), str) and isinstance(answer.get("error"), str)
        return resp.status

    async def watermark(self) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.coalesce(func.max(InboxEvent.id), 0))) or 0)

    async def drain(self) -> None:
        """Run the inbox worker until nothing is pending (one pass each, no waiting)."""
        async with self.db.sessions() as session:
            pending = await session.execute(
                select(InboxEvent.id, InboxEvent.payload).where(InboxEvent.status == "pending")
            )
            self.payloads.update((i, json.loads(p)) for i, p in pending)
        for _ in range(50):
            if await self.worker.drain_once() == 0:
                return
        raise AssertionError("the inbox worker never ran dry")

    async def rows_after(self, watermark: int) -> list[Row]:
        async with self.db.sessions() as session:
            found = await session.scalars(
                select(InboxEvent).where(InboxEvent.id > watermark).order_by(InboxEvent.id)
            )
            return [
                Row(
                    r.id,
                    r.source,
                    r.event_id,
                    r.status,
                    r.attempts,
                    r.last_error,
                    self.payloads.get(r.id) or json.loads(r.payload),
                )
                for r in found
            ]


def dispatcher(config: Config, db: Database) -> Dispatcher:
    ids = Identities(config)
    ledger = DisclosureLedger(
        LedgerSettings(
            local_server=ServerName(config.homeserver.domain),
            rocketchat=rocketchat_recipient(config.rocketchat.url),
            hash_key=config.privacy.hash_key.encode(),
        )
    )
    return Dispatcher(
        {
            "matrix": Route(
                read_event,
                [
                    MatrixEventHandler(config),
                    LedgerObserver(ledger),
                    ErasureAckHandler(ErasureEngine(db, erasure_settings(config))),
                    MatrixCommands(ids, {"bridge": BridgeCommands(config)}),
                    MatrixToRocketChat(ids, is_command, config.bridge.max_body_chars),
                ],
            ),
            RC_SOURCE: Route(
                inbox_events.read,
                [
                    RocketChatToMatrix(
                        ids,
                        {RC_BOT_ID},
                        config.bridge.max_body_chars,
                        file_links=FileLinks(config.rocketchat.url),
                    )
                ],
            ),
        }
    )


@asynccontextmanager
async def harness(
    db: Database, tmp_path: Path, max_transaction_bytes: int = 1 << 21
) -> AsyncIterator[Harness]:
    config = load_config(
        write_config(
            tmp_path / "config.yaml", appservice={"max_transaction_bytes": max_transaction_bytes}
        ),
        environ={},
    )
    async with db.unit_of_work() as uow:
        await link_room(uow, config, PORTAL_RC_ROOM, "c", "fuzz room", None, PORTAL_ROOM)
    app = build_http_app(config, db, lambda: None)
    async with TestClient(TestServer(app)) as client:
        yield Harness(config, db, client, InboxWorker(db, dispatcher(config, db)))
