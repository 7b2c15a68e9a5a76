"""The one-command local demo: homeservers, Rocket.Chat simulator, bridge, sample room.

What :class:`Demo` starts, all under one temporary directory:

* N Synapse homeservers (:class:`HomeserverCluster`); the first is the organisation's and
  has the bridge registered as its appservice; each gets an admin, the others a normal
  user each (shared-secret admin API).
* The Rocket.Chat simulator, as ``python -m bridge.sandbox.rocketchat`` (a process of its
  own, like a real server), seeded through its REST API with the bridge's account, two
  people, a channel, and two admin settings (people may delete their own accounts; real
  names are shown, so renames are announced); with ``retention_minutes``, the channel
  also gets a retention policy of its own, as an admin would set it.
* The bridge, as ``python -m bridge run -c <config>``: its config is written from
  config.example.yaml, registered with the ``generate-registration`` logic and the
  schema created with the ``db upgrade`` logic before it starts, so the demo walks the
  operator's path. The sample channel is listed in ``bridge.rooms`` and the bridge creates
  its Matrix room at start-up; the bridge's bot then invites the remote users, who join
  over federation.

Every process is a child in its own process group, stopped by pid in :meth:`Demo.stop`,
which also runs when start-up fails or is cancelled. A bridge that dies is started again
by :meth:`Demo.restart_bridge` (the CLI's supervisor decides when): it resumes from its
database, which is the point of showing it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.types import RoomID, UserID

from bridge.config import Config
from bridge.sandbox.demo_config import (
    DemoBridgeSettings,
    finish_bridge_config,
    register_bridge,
    write_bridge_config,
)
from bridge.sandbox.demo_partners import register_partners
from bridge.sandbox.demo_process import ChildProcess, DemoStartError
from bridge.sandbox.demo_receiver import write_receiver_config
from bridge.sandbox.demo_rocketchat import (
    SIM_ADMIN_USERNAME,
    RCAccount,
    RCSeed,
    seed_rocketchat,
)
from bridge.sandbox.demo_state import (
    BridgeState,
    DashboardState,
    DemoState,
    MailSinkState,
    MetricsState,
    RCLoginState,
    RocketChatState,
    RoomState,
    write_state_file,
)
from bridge.sandbox.homeservers import HomeserverCluster, cluster_state
from bridge.sandbox.mail_sink import MailSink
from bridge.sandbox.models import MatrixUser
from bridge.sandbox.ports import free_ports
from bridge.storage.database import Database

log = logging.getLogger(__name__)

RC_BRIDGE_USERNAME = "bridgebot"
RC_USERNAMES = ("alice", "bob")
RC_CHANNEL = "general-bridge"
# One normal user per other agency's homeserver: index 1 -> carol, 2 -> dave, ...
MATRIX_NAMES = ("carol", "dave", "erin", "frank", "grace", "heidi")

_SIM_READY_S = 20.0
_BRIDGE_READY_S = 30.0
_PORTAL_READY_S = 60.0


@dataclass(frozen=True)
class DemoOptions:
    servers: int = 3
    state_file: Path | None = None  # default: state.json in the demo's directory
    keep: bool = False
    base_dir: Path | None = None  # where the temporary directory is made
    # A retention policy of its own on the bridged channel, set through Rocket.Chat's API.
    retention_minutes: float | None = None


@dataclass(frozen=True)
class BridgedRoom:
    rocketchat_room_id: str
    rocketchat_room_name: str
    matrix_room_id: RoomID


class Demo:
    """Start with ``await demo.start()``, describe with ``demo.state()``, end with ``stop()``."""

    def __init__(self, options: DemoOptions | None = None) -> None:
        self.options = options or DemoOptions()
        self.root = Path(tempfile.mkdtemp(prefix="bridge-demo-", dir=self.options.base_dir))
        self.state_file = self.options.state_file or self.root / "state.json"
        self.cluster = HomeserverCluster(
            self.options.servers, base_dir=self.root, keep_dir=self.options.keep
        )
        sim_port, bridge_port = free_ports(2)
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.sim = ChildProcess(
            "Rocket.Chat simulator",
            "bridge.sandbox.rocketchat",
            ["--host", "127.0.0.1", "--port", str(sim_port)],
            self.root / "rocketchat.log",
        )
        # Not a directory called "bridge": ``python -m bridge`` runs in this directory, and
        # one there would shadow the package.
        self.config_path = self.root / "bridge-data" / "config.yaml"
        self.registration_path = self.root / "bridge-data" / "registration.yaml"
        self.bridge = ChildProcess(
            "bridge",
            "bridge",
            ["run", "-c", str(self.config_path)],
            self.root / "bridge.log",
            # The bridge asks the other homeservers over federation TLS (their software
            # version, MSC1929 contacts): it trusts the sandbox's CA as OpenSSL's default.
            env={"SSL_CERT_FILE": str(self.cluster.ca_path)},
        )
        self._bridge_port = bridge_port
        # The second homeserver's admin runs the erasure receiver (docs/erasure-receiver.md).
        self.receiver_dir = self.root / "receiver-hs2"
        self.receiver = ChildProcess(
            "erasure receiver",
            "bridge",
            ["receiver", "-c", str(self.receiver_dir / "receiver.yaml")],
            self.root / "receiver.log",
        )
        self.mail = MailSink(self.root / "mail")
        self.config: Config | None = None
        self.rc: RCSeed | None = None
        self.rooms: list[BridgedRoom] = []
        self.startup_seconds: float | None = None
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything and write the state file; on any failure stop what started."""
        if self.state_file.exists():
            # A stale file would tell a waiting script that this demo is already up.
            self.state_file.unlink()
        began = time.monotonic()
        try:
            await self._start()
            self.startup_seconds = time.monotonic() - began
            write_state_file(self.state_file, self.state().to_json())
        except BaseException:
            await self.stop()
            raise
        log.info("demo up in %.1f s; state in %s", self.startup_seconds, self.state_file)

    async def stop(self) -> None:
        """Stop every process started (bridge first), then remove the data unless kept."""
        if self._stopped:
            return
        self._stopped = True
        await asyncio.gather(self.bridge.stop(), self.sim.stop(), self.receiver.stop())
        self.mail.stop()
        await self.cluster.stop()
        _kill_groups(self.cluster.running_pids())
        if not self.options.keep:
            self.state_file.unlink(missing_ok=True)
            shutil.rmtree(self.root, ignore_errors=True)
        log.info("demo stopped%s", f"; data kept in {self.root}" if self.options.keep else "")

    async def restart_bridge(self) -> int:
        """Start the bridge again after it died; update the state file; return its pid.

        Raises DemoStartError (with its log tail) if it does not come up.
        """
        await self.bridge.stop()  # reaps it and whatever it left in its process group
        pid = self.bridge.launch()
        await self.bridge.wait_http(self._bridge_live_url, _BRIDGE_READY_S)
        write_state_file(self.state_file, self.state().to_json())
        return pid

    @property
    def _bridge_live_url(self) -> str:
        return f"http://127.0.0.1:{self._bridge_port}/_bridge/health/live"

    def bridge_died(self) -> bool:
        return self.bridge.pid is not None and not self.bridge.running

    def started_pids(self) -> list[int]:
        """Every pid the demo started (homeserver restarts included)."""
        children = [p.pid for p in (self.sim, self.bridge, self.receiver) if p.pid is not None]
        return [*self.cluster.started_pids, *children]

    def exited(self) -> list[tuple[str, Path]]:
        """The homeservers and the simulator no longer running, with their log paths.

        Without them the demo cannot go on; the bridge is watched apart (:meth:`bridge_died`).
        """
        dead = [(self.sim.name, self.sim.log_path)] if self.sim.pid and not self.sim.running else []
        dead += [
            (f"homeserver {hs.server_name}", hs.log_path)
            for hs in self.cluster.homeservers
            if hs.pid is None
        ]
        return dead

    # -- start-up steps ---------------------------------------------------------------

    async def _start(self) -> None:
        hs0 = self.cluster.homeserver(0)
        self.config_path.parent.mkdir(mode=0o700)  # the config's secrets, the database
        settings = DemoBridgeSettings(
            homeserver_url=hs0.client_url,
            server_name=hs0.server_name,
            port=self._bridge_port,
            database_url=f"sqlite+aiosqlite:///{self.root / 'bridge-data' / 'bridge.db'}",
            rocketchat_url=self.sim_url,
            rocketchat_username=RC_BRIDGE_USERNAME,
            rocketchat_password=os.urandom(12).hex(),
            # The organisation's admins may run the bridge's !privacy admin commands.
            privacy_admins=(f"@admin:{hs0.server_name}", SIM_ADMIN_USERNAME),
            mail_port=self.mail.port,
        )
        self.mail.start()
        write_bridge_config(self.config_path, settings)
        config = await asyncio.to_thread(register_bridge, self.config_path, self.registration_path)
        self.sim.launch()
        # The three slow parts are independent; a TaskGroup cancels the rest if one fails.
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    self.cluster.start(appservice_registration=self.registration_path)
                )
                rc = group.create_task(self._start_rocketchat(settings))
                group.create_task(_upgrade_database(config.database.url))
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from group_error
        self.rc = rc.result()
        remote_users = await self._register_matrix_users()
        self.config = await asyncio.to_thread(
            finish_bridge_config,
            self.config_path,
            rooms=[self.rc.room_id],
            admin_token=self.cluster.admin(0).access_token,
        )
        # The second homeserver's admin runs the erasure receiver (started below).
        await register_partners(self.config, self.cluster, receivers={1})
        if len(self.cluster.server_names) > 1:
            write_receiver_config(
                self.receiver_dir,
                self.cluster.homeserver(1),
                self.cluster.admin(1),
                self.config.bot_mxid,
            )
            self.receiver.launch()
        self.bridge.launch()
        await self.bridge.wait_http(self._bridge_live_url, _BRIDGE_READY_S)
        room_id = await self._wait_portal_room(self.config, self.rc.room_id)
        self.rooms.append(BridgedRoom(self.rc.room_id, self.rc.room_name, room_id))
        await self._invite_and_join(self.config, room_id, remote_users)

    async def _start_rocketchat(self, settings: DemoBridgeSettings) -> RCSeed:
        await self.sim.wait_http(f"{self.sim_url}/_sim/state", _SIM_READY_S)
        return await seed_rocketchat(
            self.sim_url,
            bridge_username=settings.rocketchat_username,
            bridge_password=settings.rocketchat_password,
            usernames=RC_USERNAMES,
            channel=RC_CHANNEL,
            retention_minutes=self.options.retention_minutes,
        )

    async def _register_matrix_users(self) -> list[MatrixUser]:
        def name(index: int) -> str:
            return MATRIX_NAMES[index - 1] if index <= len(MATRIX_NAMES) else f"user{index}"

        return list(
            await asyncio.gather(
                *(
                    self.cluster.register_user(i, name(i))
                    for i in range(1, len(self.cluster.server_names))
                )
            )
        )

    async def _wait_portal_room(self, config: Config, rc_room_id: str) -> RoomID:
        """Poll the bridge's database until it has created the portal's Matrix room."""
        db = Database.from_config(config)
        deadline = time.monotonic() + _PORTAL_READY_S
        try:
            while time.monotonic() < deadline:
                async with db.unit_of_work() as uow:
                    portal = await uow.bridging.portal_by_rc(rc_room_id)
                if portal is not None and portal.matrix_room_id is not None:
                    return RoomID(portal.matrix_room_id)
                if not self.bridge.running:
                    break
                await asyncio.sleep(0.2)
        finally:
            await db.close()
        raise self.bridge.start_error(f"did not create the Matrix room of {rc_room_id}")

    async def _invite_and_join(
        self, config: Config, room_id: RoomID, users: list[MatrixUser]
    ) -> None:
        """The bot invites each remote user, who joins over federation through hs0."""
        hs0 = self.cluster.homeserver(0)
        bot = ClientAPI(
            UserID(config.bot_mxid), api=HTTPAPI(hs0.client_url, config.appservice.as_token)
        )
        try:
            for user in users:
                await bot.invite_user(room_id, user.user_id)
        finally:
            await bot.api.session.close()
        await asyncio.gather(*(_join(user, room_id, hs0.server_name) for user in users))

    # -- description ------------------------------------------------------------------

    def state(self) -> DemoState:
        """Every endpoint and credential, in the state file's shape."""
        if self.config is None or self.rc is None:
            raise DemoStartError("demo", "has not been started")
        port = self.config.appservice.port
        return DemoState(
            homeservers=cluster_state(self.cluster),
            bridge=BridgeState(
                url=f"http://127.0.0.1:{port}",
                bot_user_id=self.config.bot_mxid,
                config_path=str(self.config_path),
                registration_path=str(self.registration_path),
                database_url=self.config.database.url,
                log_path=str(self.bridge.log_path),
                pid=self.bridge.pid,
                dashboard=DashboardState(
                    f"http://127.0.0.1:{port}{self.config.web.path}/", self.config.web.admin_token
                ),
                metrics=MetricsState(
                    f"http://127.0.0.1:{port}/metrics", self.config.metrics.bearer_token
                ),
            ),
            rocketchat=RocketChatState(
                url=self.sim_url,
                admin=_rc_login(self.rc.admin),
                bot_username=self.rc.bridge.username,
                users=tuple(_rc_login(user) for user in self.rc.users),
                log_path=str(self.sim.log_path),
                pid=self.sim.pid,
            ),
            mail_sink=MailSinkState(
                f"smtp://{self.mail.host}:{self.mail.port}", str(self.mail.directory)
            ),
            rooms=tuple(
                RoomState(
                    room.rocketchat_room_id,
                    room.rocketchat_room_name,
                    room.matrix_room_id,
                    self.options.retention_minutes,
                )
                for room in self.rooms
            ),
            directory=str(self.root),
            ca_path=str(self.cluster.ca_path),
            pids=tuple(self.started_pids()),
            startup_seconds=self.startup_seconds,
            keep=self.options.keep,
        )


def _rc_login(account: RCAccount) -> RCLoginState:
    return RCLoginState(account.username, account.user_id, account.auth_token, account.password)


async def _upgrade_database(url: str) -> None:
    """``bridge db upgrade``."""
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()


async def _join(user: MatrixUser, room_id: RoomID, via: str) -> None:
    client = ClientAPI(user.user_id, api=HTTPAPI(user.homeserver.client_url, user.access_token))
    try:
        await client.join_room(room_id, servers=[via], max_retries=0)
    finally:
        await client.api.session.close()


def _kill_groups(pids: list[int]) -> None:
    """Last resort for homeservers that outlived ``cluster.stop()``.

    Not ``kill_leftover_homeservers()``: that reaches every homeserver this Python process
    started, including other clusters' when the demo runs inside a test session.
    """
    for pid in pids:
        log.warning("homeserver pid %d outlived its stop; killing", pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
