"""The machine a run is measured on, and how busy it is."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import platform
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def load_1min() -> float:
    return os.getloadavg()[0]


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def ram_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 / 1024 if match else float("nan")


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def synapse_version() -> str:
    try:
        from synapse import __version__  # noqa: PLC0415 - optional, from the demo/test extra
    except ImportError:
        return "not installed"
    return str(__version__)


async def postgres_version(url: str | None) -> str:
    if not url:
        return "not used"
    try:
        import asyncpg  # noqa: PLC0415

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        return f"unreachable ({type(e).__name__})"


async def describe(postgres_url: str | None) -> dict[str, Any]:
    import aiohttp  # noqa: PLC0415
    import mautrix  # noqa: PLC0415
    import sqlalchemy  # noqa: PLC0415

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": await postgres_version(postgres_url),
        "synapse": synapse_version(),
        "mautrix": mautrix.__version__,
        "aiohttp": aiohttp.__version__,
        "sqlalchemy": sqlalchemy.__version__,
    }


async def wait_quiet(threshold: float, max_wait_s: float, label: str) -> float:
    """Wait (bounded) until the 1-minute load average drops below ``threshold``.

    Other work on a shared machine skews timings; returns the load when measuring starts.
    """
    began = time.monotonic()
    load = load_1min()
    while load >= threshold and time.monotonic() - began < max_wait_s:
        log.info("%s: load %.2f >= %.2f, waiting for a quiet machine", label, load, threshold)
        await asyncio.sleep(min(30.0, max_wait_s))
        load = load_1min()
    if load >= threshold:
        log.warning("%s: machine still busy (load %.2f); measuring anyway", label, load)
    return load


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    # The command name may hold spaces: the fields after its closing parenthesis are fixed.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by one process (or this one) between creation and ``add_to``,
    against the wall-clock time: how much of a core it kept busy."""

    def __init__(self, pid: int | None = None) -> None:
        self._pid = pid
        self._cpu = self._now()
        self._wall = time.perf_counter()
        self.load = load_1min()

    def _now(self) -> float:
        return time.process_time() if self._pid is None else cpu_seconds(self._pid)

    def seconds(self) -> tuple[float, float]:
        """(CPU seconds, wall seconds) so far."""
        return self._now() - self._cpu, time.perf_counter() - self._wall

    def add_to(self, result: Any, label: str) -> None:
        cpu, wall = self.seconds()
        if not math.isfinite(cpu) or wall <= 0:
            return
        result.metric(f"{label}: CPU seconds", "s").add(max(cpu, 0.001))
        result.metric(f"{label}: CPU busy (share of one core)", "%").add(
            max(100 * cpu / wall, 0.001)
        )
