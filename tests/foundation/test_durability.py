"""Kill -9 at the worst moments: nothing is lost, nothing is processed twice."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bridge.cli.main import main
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.fixtures.bridge_process import BridgeProcess, free_port

AUTH = {"Authorization": "Bearer hs-token-for-tests"}
INVITE = {
    "type": "m.room.member",
    "event_id": "$invite1",
    "room_id": "!portal:hs1.test",
    "sender": "@alice:hs2.test",
    "state_key": "@privacybot:hs1.test",
    "origin_server_ts": 1_700_000_000_000,
    "content": {"membership": "invite"},
}
TXN = json.dumps({"events": [INVITE]}).encode()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    port = free_port()
    config = write_config(
        tmp_path / "config.yaml",
        appservice={"port": port, "address": f"http://127.0.0.1:{port}"},
    )
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    process = BridgeProcess(config, port, tmp_path / "bridge.log")
    yield process
    process.stop()


async def _put(bridge: BridgeProcess, txn: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{bridge.url}/_matrix/app/v1/transactions/{txn}", data=TXN, headers=AUTH
        ) as resp,
    ):
        return resp.status


async def _wait_processed(db: Database, timeout: float = 20.0) -> dict[str, int]:
    for _ in range(int(timeout / 0.1)):
        counts = await db.inbox.counts()
        if counts.get("pending", 0) == 0 and counts:
            return counts
        await asyncio.sleep(0.1)
    raise TimeoutError(f"inbox not drained: {await db.inbox.counts()}")


async def _assert_processed_exactly_once(bridge: BridgeProcess, tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}")
    try:
        assert await _wait_processed(db) == {"done": 1}
        join = await db.outbox.get("matrix.join_room:$invite1")
        assert join is not None, "the invite's effect was lost"
        stats = await db.outbox.stats()
        assert stats.pending + stats.dead == 1, "the invite's effect was recorded twice"
    finally:
        await db.close()


async def test_kill_after_persist_before_ack_then_homeserver_retry(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    await bridge.start(crash_at="intake.after_persist")
    with pytest.raises(aiohttp.ClientError):
        await _put(bridge, "1")  # the process dies before it can answer
    assert await bridge.wait_exit() == -signal.SIGKILL

    await bridge.start()
    assert await _put(bridge, "1") == 200  # the homeserver retries the unanswered transaction
    await _assert_processed_exactly_once(bridge, tmp_path)


async def test_kill_while_processing_then_restart(bridge: BridgeProcess, tmp_path: Path) -> None:
    await bridge.start(crash_at="inbox.before_commit")
    assert await _put(bridge, "1") == 200
    assert await bridge.wait_exit() == -signal.SIGKILL

    await bridge.start()
    await _assert_processed_exactly_once(bridge, tmp_path)


async def test_sigterm_shuts_down_cleanly(bridge: BridgeProcess) -> None:
    await bridge.start()
    assert bridge.proc is not None
    bridge.proc.send_signal(signal.SIGTERM)
    assert await bridge.wait_exit() == 0
    assert "Bridge stopped" in bridge.log_tail()
