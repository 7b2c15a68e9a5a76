"""One Synapse subprocess: launch, readiness, stop, and the pids it ever had."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bridge.sandbox.errors import HomeserverStartError, HomeserverStateError
from bridge.sandbox.processes import answers, read_log_tail, signal_group, wait_exit
from bridge.sandbox.synapse_config import HomeserverLayout

log = logging.getLogger(__name__)

_POLL_INTERVAL = 0.1
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)

# Every Synapse pid this process ever started, so a test session can prove at the end
# that nothing is left running, whichever cluster started it.
_STARTED_PIDS: list[int] = []


def started_pids() -> tuple[int, ...]:
    """All homeserver pids started by this Python process, in start order."""
    return tuple(_STARTED_PIDS)


def is_pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    # The state field follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def kill_leftover_homeservers() -> list[int]:
    """SIGKILL the process group of every started homeserver still alive; return their pids.

    A last resort for test-session teardown, so one leaked server does not outlive the run.
    """
    leftovers = [pid for pid in _STARTED_PIDS if is_pid_alive(pid)]
    for pid in leftovers:
        signal_group(pid, signal.SIGKILL)
    return leftovers


class SynapseProcess:
    """A Synapse homeserver run as a child process in its own process group.

    Not ``--daemonize``: the sandbox keeps the ``Popen`` so it owns, signals and reaps the
    pid itself. stdout and stderr go to the layout's log file, appended across restarts.
    """

    def __init__(self, layout: HomeserverLayout, *, python: str | None = None) -> None:
        self.layout = layout
        self._python = python or sys.executable
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> int:
        """Start the server process and return its pid; does not wait for readiness."""
        if self.running:
            raise HomeserverStateError(f"{self.layout.server_name} is already running")
        argv = [self._python, "-m", "synapse.app.homeserver", "-c", str(self.layout.config_path)]
        with self.layout.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv,
                cwd=self.layout.directory,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, so killpg reaches everything
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _STARTED_PIDS.append(self._proc.pid)
        log.debug("started %s as pid %d", self.layout.server_name, self._proc.pid)
        return self._proc.pid

    async def wait_ready(self, ssl_context: ssl.SSLContext, limit_s: float) -> float:
        """Poll both listeners until they answer; return the seconds it took.

        Raises HomeserverStartError with the log tail if the process exits or the server
        is not ready within ``limit_s`` seconds. The process is left as it is.
        """
        proc = self._proc
        if proc is None:
            raise HomeserverStateError(f"{self.layout.server_name} was never launched")
        started = time.monotonic()
        client_probe = f"{self.layout.client_url}/_matrix/client/versions"
        federation_probe = f"{self.layout.tls_url}/_matrix/federation/v1/version"
        async with aiohttp.ClientSession(timeout=_PROBE_TIMEOUT) as session:
            while True:
                if proc.poll() is not None:
                    raise self._start_error(f"exited with code {proc.returncode} during start-up")
                if await answers(session, client_probe, None) and await answers(
                    session, federation_probe, ssl_context
                ):
                    return time.monotonic() - started
                if time.monotonic() - started > limit_s:
                    raise self._start_error(f"was not ready within {limit_s:.0f} s")
                await asyncio.sleep(_POLL_INTERVAL)

    async def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the process group, wait, SIGKILL after ``grace_s``; always reaps."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
            if not await wait_exit(proc, grace_s):
                log.warning(
                    "%s ignored SIGTERM for %.0f s; killing", self.layout.server_name, grace_s
                )
                signal_group(proc.pid, signal.SIGKILL)
                await wait_exit(proc, grace_s)
        # Catch any straggler left in the group after the leader exited.
        signal_group(proc.pid, signal.SIGKILL)
        log.debug("%s (pid %d) exited with %s", self.layout.server_name, proc.pid, proc.returncode)

    def log_tail(self, lines: int = 40) -> str:
        return read_log_tail(self.layout.log_path, lines)

    def _start_error(self, reason: str) -> HomeserverStartError:
        return HomeserverStartError(self.layout.server_name, reason, self.log_tail())
