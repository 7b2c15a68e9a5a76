"""A Python child process of the demo (the simulator, the bridge): launch, probe, stop.

Each child runs in its own process group, like the homeservers (``synapse_process``):
Ctrl-C in the terminal reaches only the demo, which then stops its children in order, and
``killpg`` also reaches anything a child started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from bridge.sandbox.processes import answers, read_log_tail, signal_group, wait_exit

log = logging.getLogger(__name__)

_POLL_INTERVAL = 0.1
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)


class DemoStartError(Exception):
    """A part of the demo did not come up; carries the tail of its log."""

    def __init__(self, name: str, reason: str, log_tail: str = "") -> None:
        message = f"{name} {reason}"
        if log_tail:
            message += f"\n--- last lines of its log ---\n{log_tail}"
        super().__init__(message)
        self.name = name


class ChildProcess:
    """``python -m <module> <args>`` with stdout and stderr appended to ``log_path``."""

    def __init__(
        self,
        name: str,
        module: str,
        args: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", module, *args]
        self.log_path = log_path
        self.env = dict(env or {})  # added to this process's environment
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> int:
        with self.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv,
                cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            )
        log.debug("started %s as pid %d", self.name, self._proc.pid)
        return self._proc.pid

    async def wait_http(self, url: str, limit_s: float) -> float:
        """Poll ``url`` until it answers 200; return the seconds it took.

        Raises DemoStartError with the log tail if the process exits first or the limit
        passes.
        """
        proc = self._proc
        if proc is None:
            raise DemoStartError(self.name, "was never launched")
        began = time.monotonic()
        async with aiohttp.ClientSession(timeout=_PROBE_TIMEOUT) as session:
            while True:
                if proc.poll() is not None:
                    raise self.start_error(f"exited with code {proc.returncode} during start-up")
                if await answers(session, url):
                    return time.monotonic() - began
                if time.monotonic() - began > limit_s:
                    raise self.start_error(f"did not answer {url} within {limit_s:.0f} s")
                await asyncio.sleep(_POLL_INTERVAL)

    def start_error(self, reason: str) -> DemoStartError:
        return DemoStartError(self.name, reason, read_log_tail(self.log_path))

    async def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; always reaps."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
            if not await wait_exit(proc, grace_s):
                log.warning("%s ignored SIGTERM for %.0f s; killing", self.name, grace_s)
                signal_group(proc.pid, signal.SIGKILL)
                await wait_exit(proc, grace_s)
        # Anything the child left behind in its group goes too.
        signal_group(proc.pid, signal.SIGKILL)
        log.debug("%s (pid %d) exited with %s", self.name, proc.pid, proc.returncode)
