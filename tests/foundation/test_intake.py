"""The appservice endpoints: token checks, durable storage, replay de-duplication."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from bridge.app import build_http_app
from bridge.config import load_config
from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.fixtures.bridge_stack import wait_for

HS_TOKEN = "hs-token-for-tests"
AUTH = {"Authorization": f"Bearer {HS_TOKEN}"}
METRICS_TOKEN = "metrics-token-for-tests-0123456789"  # noqa: S105


def _event(n: int, room: str = "!room:hs1.test") -> dict[str, object]:
    return {
        "type": "m.room.message",
        "event_id": f"$event{n}",
        "room_id": room,
        "sender": "@alice:hs2.test",
        "origin_server_ts": 1_700_000_000_000 + n,
        "content": {"msgtype": "m.text", "body": f"hello {n}"},
    }


class Intake:
    def __init__(self, client: TestClient[object, object], db: Database) -> None:
        self.client = client
        self.db = db
        self.wakes = 0

    async def put(
        self, txn: str, body: object, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = await self.client.put(
            f"/_matrix/app/v1/transactions/{txn}",
            data=raw,
            headers=AUTH if headers is None else headers,
        )
        return resp.status, await resp.json()

    async def stored_event_ids(self) -> list[str | None]:
        return [e.event_id for e in await self.db.inbox.pending(1000)]


@pytest_asyncio.fixture
async def intake(db: Database, tmp_path: Path) -> AsyncIterator[Intake]:
    config = load_config(
        write_config(
            tmp_path / "config.yaml",
            appservice={"max_transaction_bytes": 4096},
            metrics={"bearer_token": METRICS_TOKEN},
        ),
        environ={},
    )
    holder: list[Intake] = []

    def woke() -> None:
        holder[0].wakes += 1

    app = build_http_app(config, db, woke)
    async with TestClient(TestServer(app)) as client:
        holder.append(Intake(client, db))
        yield holder[0]


async def test_transaction_is_stored_before_200(intake: Intake) -> None:
    status, body = await intake.put("1", {"events": [_event(1), _event(2)]})
    assert (status, body) == (200, {})
    assert await intake.stored_event_ids() == ["$event1", "$event2"]
    assert intake.wakes == 1


async def test_replayed_transaction_is_stored_once(intake: Intake) -> None:
    body = {"events": [_event(1)]}
    assert (await intake.put("7", body))[0] == 200
    assert (await intake.put("7", body))[0] == 200
    assert await intake.stored_event_ids() == ["$event1"]
    assert intake.wakes == 1


async def test_a_transaction_stored_by_two_processes_at_once_is_stored_once_and_answered(
    intake: Intake, db_url: str
) -> None:
    """The homeserver retried a transaction through a load balancer while the first try
    was still being stored by another process: the retry waits for it, then is a replay
    (200, nothing stored twice), never a 500 from the unique constraint."""
    body = {"events": [_event(1)]}
    raw = json.dumps(body).encode()
    if not db_url.startswith("postgresql"):
        # SQLite serves one process: the second try simply finds the first.
        assert (await intake.put("7", raw))[0] == 200
        assert await intake.put("7", raw) == (200, {})
        assert await intake.stored_event_ids() == ["$event1"]
        return
    url = make_url(db_url)
    other = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        first = other.transaction()  # the other process, mid-way through storing it
        await first.start()
        await other.execute(
            "INSERT INTO as_transaction (txn_id, body_hash, event_count, received_ms)"
            " VALUES ('7', $1, 1, 0)",
            hashlib.sha256(raw).digest(),
        )
        await other.execute(
            "INSERT INTO inbox_event (source, event_id, room_id, payload, status, attempts,"
            " received_ms) VALUES ('matrix', '$event1', '!room:hs1.test', $1, 'pending', 0, 0)",
            json.dumps(_event(1)),
        )
        retry = asyncio.create_task(intake.put("7", raw))

        async def waiting() -> bool:
            # The retry's insert waits for the first transaction's row lock.
            return bool(await other.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))

        await wait_for(waiting, 20)
        assert not retry.done()
        await first.commit()
        assert await retry == (200, {})
    finally:
        await other.close()
    assert await intake.stored_event_ids() == ["$event1"]


async def test_reused_id_with_another_body_is_a_new_transaction(intake: Intake) -> None:
    # Synapse on SQLite restarts transaction ids at 1 after a restart (docs/synapse-notes.md,
    # Transaction ids).
    await intake.put("1", {"events": [_event(1)]})
    await intake.put("1", {"events": [_event(2)]})
    assert await intake.stored_event_ids() == ["$event1", "$event2"]


async def test_duplicate_event_ids_collapse_within_and_across_transactions(
    intake: Intake,
) -> None:
    await intake.put("1", {"events": [_event(1), _event(1)]})
    await intake.put("2", {"events": [_event(1), _event(2)]})
    assert await intake.stored_event_ids() == ["$event1", "$event2"]


@pytest.mark.parametrize(
    ("headers", "status", "errcode"),
    [
        ({}, 401, "M_UNAUTHORIZED"),
        ({"Authorization": "Bearer wrong"}, 403, "M_FORBIDDEN"),
        ({"Authorization": "Basic " + HS_TOKEN}, 401, "M_UNAUTHORIZED"),
    ],
)
async def test_bad_token_stores_nothing(
    intake: Intake, headers: dict[str, str], status: int, errcode: str
) -> None:
    got, body = await intake.put("1", {"events": [_event(1)]}, headers=headers)
    assert (got, body["errcode"]) == (status, errcode)
    assert await intake.stored_event_ids() == []


async def test_legacy_query_token_is_accepted(intake: Intake) -> None:
    resp = await intake.client.put(
        f"/_matrix/app/v1/transactions/9?access_token={HS_TOKEN}",
        data=json.dumps({"events": [_event(1)]}),
    )
    assert resp.status == 200
    assert await intake.stored_event_ids() == ["$event1"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/_matrix/app/v1/users/@rc_x:hs1.test", "GET"),
        ("/_matrix/app/v1/rooms/%23rc_x:hs1.test", "GET"),
        ("/_matrix/app/v1/ping", "POST"),
    ],
)
async def test_queries_and_ping_check_the_token(intake: Intake, path: str, method: str) -> None:
    denied = await intake.client.request(method, path, json={})
    assert denied.status == 401
    wrong = await intake.client.request(
        method, path, json={}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status == 403
    allowed = await intake.client.request(method, path, json={}, headers=AUTH)
    assert allowed.status in (200, 404)
    if allowed.status == 404:
        assert (await allowed.json())["errcode"] == "M_NOT_FOUND"


async def test_ping_answers_empty_object(intake: Intake) -> None:
    resp = await intake.client.post(
        "/_matrix/app/v1/ping", json={"transaction_id": "t1"}, headers=AUTH
    )
    assert (resp.status, await resp.json()) == (200, {})


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (b"{not json", "M_NOT_JSON"),
        (b"[1, 2]", "M_BAD_JSON"),
        (b'{"events": "nope"}', "M_BAD_JSON"),
    ],
)
async def test_malformed_bodies_are_refused_and_store_nothing(
    intake: Intake, body: bytes, errcode: str
) -> None:
    status, answer = await intake.put("1", body)
    assert (status, answer["errcode"]) == (400, errcode)
    assert await intake.stored_event_ids() == []


async def test_oversized_transaction_gets_413(intake: Intake) -> None:
    big = {"events": [_event(1) | {"content": {"body": "x" * 5000}}]}
    status, answer = await intake.put("1", big)
    assert (status, answer["errcode"]) == (413, "M_TOO_LARGE")
    assert await intake.stored_event_ids() == []


async def test_non_object_entries_are_dropped_and_good_events_kept(intake: Intake) -> None:
    status, _ = await intake.put("1", {"events": [_event(1), "junk", 3, _event(2)]})
    assert status == 200
    assert await intake.stored_event_ids() == ["$event1", "$event2"]


async def test_storage_failure_answers_500_so_the_homeserver_retries(intake: Intake) -> None:
    await intake.db.close()
    # Point the inbox at a database that cannot be written.
    broken = Database("sqlite+aiosqlite:////nonexistent-dir/x.db")
    intake.db.inbox._sessions = broken.sessions  # noqa: SLF001 - simulate a dead database
    try:
        status, answer = await intake.put("1", {"events": [_event(1)]})
    finally:
        await broken.close()
    assert (status, answer["errcode"]) == (500, "M_UNKNOWN")


async def test_health_and_metrics(intake: Intake) -> None:
    assert (await intake.client.get("/_bridge/health/live")).status == 200
    ready = await intake.client.get("/_bridge/health/ready")
    assert (ready.status, (await ready.json())["status"]) == (200, "ok")
    await intake.put("1", {"events": [_event(1)]})
    metrics_auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    metrics = await (await intake.client.get("/metrics", headers=metrics_auth)).text()
    assert 'bridge_matrix_transactions_total{result="stored"}' in metrics
    assert 'bridge_inbox_events{status="pending"} 1.0' in metrics


async def test_wrong_hs_tokens_are_throttled_and_audited_the_right_one_still_works(
    intake: Intake,
) -> None:
    wrong = {"Authorization": "Bearer guessed-hs-token-0123456789"}
    statuses = [(await intake.put(str(n), {"events": []}, headers=wrong))[0] for n in range(15)]
    assert statuses[0] == 403 and statuses[-1] == 429
    refused = await AuditLog(intake.db).newest(kind=audit.ADMIN_LOGIN_REFUSED)
    assert refused and all(e.actor == "appservice:anonymous" for e in refused)
    assert all("guessed-hs-token" not in str(e.details) for e in refused)
    # The homeserver is never locked out by someone guessing from the same address.
    status, _ = await intake.put("ok", {"events": [_event(1)]})
    assert status == 200
    assert await intake.stored_event_ids() == ["$event1"]
