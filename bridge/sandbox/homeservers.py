"""A cluster of real Synapse homeservers federating over loopback TLS.

Follows docs/synapse-notes.md ("Loopback federation in tests", "Retry timing"): IP-literal
server names with loopback taken out of the blocklist, a throwaway CA with verification on,
fast federation retries, ``bcrypt_rounds: 4`` and unbuffered logs. Configs are written directly and
all servers start in parallel, because ``--generate-config`` alone costs ~3.3 s each.

Ports are picked at construction, so ``server_names`` is known before ``start()`` and an
appservice registration for the first server can be written in between.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from bridge.sandbox.demo_state import HomeserverState, MatrixAdmin, MatrixLogin
from bridge.sandbox.errors import HomeserverStateError
from bridge.sandbox.matrix_users import ResetOutcome, register_user, reset_connection
from bridge.sandbox.models import Homeserver, MatrixUser
from bridge.sandbox.ports import free_ports
from bridge.sandbox.synapse_config import (
    DEFAULT_REDACTION_RETENTION,
    HomeserverLayout,
    build_homeserver_config,
    write_homeserver_config,
)
from bridge.sandbox.synapse_process import SynapseProcess, is_pid_alive

log = logging.getLogger(__name__)

HomeserverRef = int | Homeserver | str  # index, snapshot, or server name

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)


class HomeserverCluster:
    """N Synapse homeservers in one temporary directory, federating with each other."""

    def __init__(
        self,
        count: int = 3,
        *,
        base_dir: Path | None = None,
        keep_dir: bool = False,
        redaction_retention_period: str = DEFAULT_REDACTION_RETENTION,
        ready_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        extra_config: Mapping[str, Any] | None = None,
        python: str | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a cluster needs at least one homeserver")
        self.root = Path(tempfile.mkdtemp(prefix="bridge-sandbox-", dir=base_dir))
        self.keep_dir = keep_dir
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._retention = redaction_retention_period
        self._extra_config = dict(extra_config or {})
        ports = free_ports(2 * count)
        self._layouts = [
            HomeserverLayout(
                self.root / f"hs{i + 1}", ports[2 * i], ports[2 * i + 1], f"127.0.0.{i + 1}"
            )
            for i in range(count)
        ]
        self._processes = [SynapseProcess(layout, python=python) for layout in self._layouts]
        self._secrets = [secrets.token_hex(32) for _ in range(count)]
        self._admins: list[MatrixUser | None] = [None] * count
        self._users: list[list[MatrixUser]] = [[] for _ in range(count)]
        self._pids: list[int] = []
        self._prepared = False
        self._closed = False
        self.start_seconds: dict[str, float] = {}  # server name -> seconds until ready

    # -- description ------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        """The CA certificate every homeserver's TLS certificate is signed by."""
        return self.root / "ca.crt"

    @property
    def server_names(self) -> tuple[str, ...]:
        return tuple(layout.server_name for layout in self._layouts)

    @property
    def homeservers(self) -> tuple[Homeserver, ...]:
        return tuple(self.homeserver(i) for i in range(len(self._layouts)))

    def homeserver(self, ref: HomeserverRef) -> Homeserver:
        index = self.index(ref)
        layout = self._layouts[index]
        process = self._processes[index]
        return Homeserver(
            server_name=layout.server_name,
            client_url=layout.client_url,
            tls_url=layout.tls_url,
            data_dir=layout.data_dir,
            pid=process.pid if process.running else None,
            log_path=layout.log_path,
            registration_shared_secret=self._secrets[index],
        )

    def index(self, ref: HomeserverRef) -> int:
        """The position of a homeserver given by index, snapshot or server name."""
        if isinstance(ref, int):
            if not 0 <= ref < len(self._layouts):
                raise IndexError(f"no homeserver #{ref} in a cluster of {len(self._layouts)}")
            return ref
        name = ref.server_name if isinstance(ref, Homeserver) else ref
        try:
            return self.server_names.index(name)
        except ValueError:
            raise KeyError(f"{name} is not in this cluster") from None

    def admin(self, ref: HomeserverRef) -> MatrixUser:
        """The admin user registered on the homeserver at start-up."""
        admin = self._admins[self.index(ref)]
        if admin is None:
            raise HomeserverStateError("the cluster has not been started")
        return admin

    def users(self, ref: HomeserverRef) -> tuple[MatrixUser, ...]:
        """Non-admin users registered through this cluster, oldest first."""
        return tuple(self._users[self.index(ref)])

    def is_running(self, ref: HomeserverRef) -> bool:
        return self._processes[self.index(ref)].running

    @property
    def started_pids(self) -> tuple[int, ...]:
        """Every homeserver pid this cluster started, restarts included."""
        return tuple(self._pids)

    def running_pids(self) -> list[int]:
        """Pids this cluster started that are still alive (should be empty after stop)."""
        return [pid for pid in self._pids if is_pid_alive(pid)]

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the cluster's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, *, appservice_registration: Path | None = None) -> None:
        """Write keys and configs, start every homeserver, and register one admin each.

        ``appservice_registration`` goes into the first server's
        ``app_service_config_files``. On failure everything started is stopped again and
        the error (a HomeserverStartError with the log tail) propagates.
        """
        if self._prepared:
            raise HomeserverStateError("a cluster can only be started once")
        self._prepared = True
        began = time.monotonic()
        try:
            await asyncio.to_thread(self._prepare, appservice_registration)
            await asyncio.gather(*(self._start_one(i) for i in range(len(self._layouts))))
            async with self._session() as session:
                admins = await asyncio.gather(
                    *(
                        register_user(session, hs, "admin", secrets.token_hex(16), admin=True)
                        for hs in self.homeservers
                    )
                )
        except BaseException:
            await self.stop()
            raise
        self._admins = list(admins)
        log.info(
            "%d homeservers up in %.1f s: %s",
            len(self._layouts),
            time.monotonic() - began,
            ", ".join(self.server_names),
        )

    async def stop(self, *, keep_dir: bool | None = None) -> None:
        """Stop every homeserver and remove the directory (unless kept)."""
        await asyncio.gather(*(p.stop(self.stop_timeout) for p in self._processes))
        keep = self.keep_dir if keep_dir is None else keep_dir
        if not keep and not self._closed:
            shutil.rmtree(self.root, ignore_errors=True)
        elif keep:
            log.info("kept homeserver sandbox directory %s", self.root)
        self._closed = True

    async def stop_homeserver(self, ref: HomeserverRef) -> None:
        """SIGTERM one homeserver (SIGKILL after ``stop_timeout``); its data stays."""
        await self._processes[self.index(ref)].stop(self.stop_timeout)

    async def start_homeserver(self, ref: HomeserverRef) -> None:
        """Start a stopped homeserver again on the same ports and data.

        Call ``reset_connections(ref)`` afterwards so the others deliver what they
        queued while it was down (docs/synapse-notes.md, Retry timing).
        """
        if self._closed:
            raise HomeserverStateError("the cluster has been stopped")
        await self._start_one(self.index(ref))

    async def restart_homeserver(self, ref: HomeserverRef) -> None:
        """Stop and start one homeserver, then wake catch-up towards it."""
        await self.stop_homeserver(ref)
        await self.start_homeserver(ref)
        await self.reset_connections(ref)

    async def reset_connections(
        self, ref: HomeserverRef | None = None
    ) -> dict[tuple[str, str], ResetOutcome]:
        """Ask running servers to retry federation now.

        With ``ref``, every other server retries towards it; without, every pair. Returns
        the outcome per ``(origin, destination)``.
        """
        targets = range(len(self._layouts)) if ref is None else [self.index(ref)]
        pairs = [
            (origin, dest)
            for dest in targets
            for origin in range(len(self._layouts))
            if origin != dest and self._processes[origin].running
        ]
        names = self.server_names
        async with self._session() as session:
            outcomes = await asyncio.gather(
                *(
                    reset_connection(session, self.homeserver(o), self.admin(o), names[d])
                    for o, d in pairs
                )
            )
        return {(names[o], names[d]): out for (o, d), out in zip(pairs, outcomes, strict=True)}

    async def register_user(
        self,
        ref: HomeserverRef = 0,
        localpart: str | None = None,
        *,
        password: str | None = None,
        admin: bool = False,
    ) -> MatrixUser:
        """Register a user on a homeserver; a random localpart and password by default."""
        index = self.index(ref)
        async with self._session() as session:
            user = await register_user(
                session,
                self.homeserver(index),
                localpart or f"user_{secrets.token_hex(4)}",
                password or secrets.token_urlsafe(16),
                admin=admin,
            )
        if not admin:
            self._users[index].append(user)
        return user

    async def __aenter__(self) -> HomeserverCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- internals --------------------------------------------------------------------

    def _prepare(self, appservice_registration: Path | None) -> None:
        # Imported here: cryptography and signedjson come with Synapse, not the bridge.
        from bridge.sandbox import keys  # noqa: PLC0415

        ca = keys.make_ca()
        self.ca_path.write_bytes(ca.cert_pem)
        for index, layout in enumerate(self._layouts):
            layout.data_dir.mkdir(parents=True)
            keys.issue_server_cert(ca, layout.server_name, layout.host).write(
                layout.tls_cert_path, layout.tls_key_path
            )
            keys.write_signing_key(layout.signing_key_path)
            registrations: Sequence[Path] = ()
            if index == 0 and appservice_registration is not None:
                registrations = (appservice_registration.resolve(),)
            config = build_homeserver_config(
                layout,
                ca_cert_path=self.ca_path,
                registration_shared_secret=self._secrets[index],
                redaction_retention_period=self._retention,
                appservice_registrations=registrations,
                extra_config=self._extra_config,
            )
            write_homeserver_config(layout, config)

    async def _start_one(self, index: int) -> None:
        process = self._processes[index]
        self._pids.append(process.launch())
        seconds = await process.wait_ready(self.ssl_context(), self.ready_timeout)
        self.start_seconds[process.layout.server_name] = seconds
        log.info("homeserver %s ready in %.1f s", process.layout.server_name, seconds)

    def _session(self) -> aiohttp.ClientSession:
        # A short-lived session per call keeps the cluster usable from any event loop.
        return aiohttp.ClientSession(timeout=_HTTP_TIMEOUT)


def cluster_state(cluster: HomeserverCluster) -> tuple[HomeserverState, ...]:
    """Endpoints and credentials of a running cluster, for the demo's state file."""
    return tuple(
        HomeserverState(
            server_name=hs.server_name,
            client_url=hs.client_url,
            admin=MatrixAdmin(cluster.admin(hs).user_id, cluster.admin(hs).access_token),
            users=tuple(
                MatrixLogin(user.user_id, user.password, user.access_token)
                for user in cluster.users(hs)
            ),
            tls_url=hs.tls_url,
            pid=hs.pid,
            log_path=str(hs.log_path),
        )
        for hs in cluster.homeservers
    )
