"""Child processes of the sandbox (homeservers, simulator, bridge): probe, wait, signal."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp


async def answers(
    session: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext | None = None
) -> bool:
    """Whether ``url`` answers 200 right now (any failure means "not yet")."""
    try:
        async with session.get(url, ssl=ctx if ctx is not None else True) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def wait_exit(proc: subprocess.Popen[bytes], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def signal_group(pgid: int, signum: signal.Signals) -> None:
    """Signal a child's whole process group; one that is already gone is no error."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def read_log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note if it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
