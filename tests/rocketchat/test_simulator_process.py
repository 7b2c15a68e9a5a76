"""The simulator as a subprocess: ``python -m bridge.sandbox.rocketchat`` with a snapshot."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.transport import RetryPolicy

RETRY = RetryPolicy(attempts=60, base_delay=0.05, max_delay=0.1, timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(port: int, snapshot: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.sandbox.rocketchat",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--snapshot",
        str(snapshot),
        "--bot-token",
        "tok",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_state_survives_a_restart_via_snapshot(tmp_path: Path) -> None:
    port, snapshot = free_port(), tmp_path / "rc.json"
    url = f"http://127.0.0.1:{port}"
    proc = await _run(port, snapshot)
    try:
        async with RCRestClient(url, retry=RETRY) as admin:
            await admin.login("admin", "admin-pass")
            room = await admin.room_create("channels", "persisted")
            msg = await admin.post_message(room.id, "still here?")
    finally:
        await _stop(proc)
    assert snapshot.exists()
    proc = await _run(port, snapshot)
    try:
        async with RCRestClient(url, retry=RETRY) as admin:
            await admin.login("admin", "admin-pass")
            assert (await admin.get_message(msg.id)).text == "still here?"
            bot = await admin.users_info(username="bridge.bot")
        async with RCRestClient.with_token(url, bot.id, "tok", retry=RETRY) as bot_client:
            assert (await bot_client.me()).username == "bridge.bot"
    finally:
        await _stop(proc)
