"""Resident memory of a process, sampled from /proc/<pid>/status (VmRSS)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


def rss_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


class RssSampler:
    """Samples a pid every ``interval`` seconds in the background; marks name phases."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[str, float]] = []
        self.phase = "start"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            value = rss_mib(self.pid)
            if value is not None:
                self.samples.append((self.phase, value))
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of(self, phase: str) -> list[float]:
        return [v for p, v in self.samples if p == phase]
