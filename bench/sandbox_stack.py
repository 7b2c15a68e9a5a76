"""The real sandbox for benchmarks 1, 4 and 5: three Synapses, the Rocket.Chat simulator
and the bridge as ``python -m bridge run`` (a process of its own, so its memory can be
read from /proc), with ``rooms`` bridged channels that users of homeservers 2 and 3 have
joined over federation.

Built from the demo's parts (``bridge.sandbox.demo_*``), as an operator would set up: the
config from config.example.yaml, the registration by the ``generate-registration``
logic, the schema by ``db upgrade``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from mautrix.types import RoomID
from ruamel.yaml import YAML

from bridge.config import Config
from bridge.ids import RCRoomID
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.demo_config import (
    DemoBridgeSettings,
    finish_bridge_config,
    register_bridge,
    write_bridge_config,
)
from bridge.sandbox.demo_process import ChildProcess
from bridge.sandbox.demo_rocketchat import SIM_ADMIN_PASSWORD, SIM_ADMIN_USERNAME, seed_rocketchat
from bridge.sandbox.homeservers import HomeserverCluster
from bridge.sandbox.models import MatrixUser
from bridge.sandbox.ports import free_ports
from bridge.storage.database import Database

log = logging.getLogger(__name__)

_TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass(frozen=True)
class BridgedRoom:
    rc_room_id: RCRoomID
    matrix_room_id: RoomID


@dataclass
class RCPerson:
    username: str
    user_id: str
    client: RCRestClient


@dataclass
class SandboxStack:
    rooms_wanted: int = 1
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-sandbox-")))

    def __post_init__(self) -> None:
        self.cluster = HomeserverCluster(3, base_dir=self.root)
        sim_port, bridge_port = free_ports(2)
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.sim = ChildProcess(
            "Rocket.Chat simulator",
            "bridge.sandbox.rocketchat",
            # No simulated rate limit: its 429 waits would land in the timed sends.
            ["--host", "127.0.0.1", "--port", str(sim_port), "--no-rate-limit"],
            self.root / "rocketchat.log",
        )
        self.config_path = self.root / "bridge-data" / "config.yaml"
        self.registration_path = self.root / "bridge-data" / "registration.yaml"
        self.bridge = ChildProcess(
            "bridge", "bridge", ["run", "-c", str(self.config_path)], self.root / "bridge.log"
        )
        self.bridge_port = bridge_port
        self.config: Config | None = None
        self.rooms: list[BridgedRoom] = []
        self.remote_users: list[MatrixUser] = []
        self.admin: RCRestClient | None = None
        self.db: Database | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        hs0 = self.cluster.homeserver(0)
        self.config_path.parent.mkdir(parents=True)
        settings = DemoBridgeSettings(
            homeserver_url=hs0.client_url,
            server_name=hs0.server_name,
            port=self.bridge_port,
            database_url=f"sqlite+aiosqlite:///{self.root / 'bridge-data' / 'bridge.db'}",
            rocketchat_url=self.sim_url,
            rocketchat_username="bridgebot",
            rocketchat_password=secrets.token_hex(12),
        )
        write_bridge_config(self.config_path, settings)
        _trace_stages(self.config_path)
        config = await asyncio.to_thread(register_bridge, self.config_path, self.registration_path)
        self.sim.launch()
        await asyncio.gather(
            self.cluster.start(appservice_registration=self.registration_path),
            self.sim.wait_http(f"{self.sim_url}/_sim/state", 30),
        )
        # The bridge's own keys: requests name people by pseudonym in the audit log.
        db = Database.from_config(config)
        await db.upgrade()
        self.db = db
        seed = await seed_rocketchat(
            self.sim_url,
            bridge_username=settings.rocketchat_username,
            bridge_password=settings.rocketchat_password,
            usernames=(),
            channel="bench-0",
        )
        self.admin = RCRestClient(self.sim_url)
        await self.admin.login(SIM_ADMIN_USERNAME, SIM_ADMIN_PASSWORD)
        rc_rooms = [seed.room_id]
        for i in range(1, self.rooms_wanted):
            rc_rooms.append((await self.admin.room_create("channels", f"bench-{i}", [])).id)
        self.remote_users = [
            await self.cluster.register_user(1, "carol"),
            await self.cluster.register_user(2, "dave"),
        ]
        self.config = await asyncio.to_thread(
            finish_bridge_config,
            self.config_path,
            rooms=rc_rooms,
            admin_token=self.cluster.admin(0).access_token,
        )
        self._http = aiohttp.ClientSession(timeout=_TIMEOUT)
        self.bridge.launch()
        await self.bridge.wait_http(f"{settings.url}/_bridge/health/live", 60)
        for rc_room in rc_rooms:
            room_id = await self._wait_portal(rc_room)
            self.rooms.append(BridgedRoom(RCRoomID(rc_room), room_id))
            for user in self.remote_users:
                await self.as_request("POST", f"/rooms/{room_id}/invite", {"user_id": user.user_id})
                await self.user_request(
                    user, "POST", f"/join/{quote(room_id)}?server_name={hs0.server_name}", {}
                )
        log.info(
            "sandbox up: %d bridged rooms across %s", len(self.rooms), self.cluster.server_names
        )

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        if self._http is not None:
            await self._http.close()
        await self.bridge.stop()
        await self.sim.stop()
        if self.db is not None:
            await self.db.close()
        keep = os.environ.get("BRIDGE_BENCH_KEEP") == "1"
        await self.cluster.stop(keep_dir=keep)
        if keep:
            log.info("kept the sandbox in %s", self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    async def _wait_portal(self, rc_room_id: str) -> RoomID:
        assert self.db is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with self.db.unit_of_work() as uow:
                portal = await uow.bridging.portal_by_rc(rc_room_id)
            if portal is not None and portal.matrix_room_id is not None:
                return RoomID(portal.matrix_room_id)
            if not self.bridge.running:
                break
            await asyncio.sleep(0.2)
        raise self.bridge.start_error(f"did not create the Matrix room of {rc_room_id}")

    # -- handles ----------------------------------------------------------------------

    @property
    def bridge_log(self) -> Path:
        return self.root / "bridge.log"

    @property
    def bridge_pid(self) -> int:
        assert self.bridge.pid is not None
        return self.bridge.pid

    @property
    def hs1(self) -> str:
        return self.cluster.homeserver(0).client_url

    def ghost_id(self, username: str) -> str:
        assert self.config is not None
        localpart = self.config.appservice.ghost_localpart_template.format(username=username)
        return f"@{localpart}:{self.config.homeserver.domain}"

    async def rc_person(self, username: str) -> RCPerson:
        """A new Rocket.Chat user, a member of every bridged channel, logged in."""
        assert self.admin is not None
        password = secrets.token_hex(8)
        user = await self.admin.users_create(
            username, username.capitalize(), f"{username}@bench.invalid", password, verified=True
        )
        for room in self.rooms:
            await self.admin.room_invite("channels", room.rc_room_id, user.id)
        client = RCRestClient(self.sim_url)
        await client.login(username, password)
        return RCPerson(username, user.id, client)

    async def as_request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        as_user: str | None = None,
    ) -> dict[str, Any]:
        """The client-server API of homeserver 1 with the appservice's token."""
        assert self.config is not None
        sep = "&" if "?" in path else "?"
        query = f"{sep}user_id={quote(as_user)}" if as_user else ""
        url = f"{self.hs1}/_matrix/client/v3{path}{query}"
        return await self._request(method, url, self.config.appservice.as_token, body)

    async def admin_request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        token = self.cluster.admin(0).access_token
        return await self._request(method, f"{self.hs1}{path}", token, body)

    async def user_request(
        self, user: MatrixUser, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = f"{user.homeserver.client_url}/_matrix/client/v3{path}"
        return await self._request(method, url, user.access_token, body)

    async def _request(
        self, method: str, url: str, token: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        assert self._http is not None
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(5):
            async with self._http.request(method, url, json=body, headers=headers) as resp:
                data = await resp.json(content_type=None)
                if resp.status == 429 and attempt < 4:
                    await asyncio.sleep((data or {}).get("retry_after_ms", 500) / 1000)
                    continue
                if resp.status != 200:
                    raise RuntimeError(
                        f"{method} {url.split('?', maxsplit=1)[0]} -> {resp.status}: {data}"
                    )
                return dict(data or {})
        raise RuntimeError("unreachable")

    async def register_ghost(self, username: str) -> str:
        """A ghost in the bridge's namespace, joined to every bridged room."""
        assert self.config is not None
        user_id = self.ghost_id(username)
        localpart = user_id[1:].split(":", 1)[0]
        await self.as_request(
            "POST", "/register", {"type": "m.login.application_service", "username": localpart}
        )
        for room in self.rooms:
            await self.as_request(
                "POST", f"/rooms/{room.matrix_room_id}/invite", {"user_id": user_id}
            )
            await self.as_request("POST", f"/rooms/{room.matrix_room_id}/join", {}, as_user=user_id)
        return user_id


def _trace_stages(config_path: Path) -> None:
    """Each relayed message's stage times in bridge.log (bridge.pipeline.stages)."""
    yaml = YAML()
    data = yaml.load(config_path.read_text(encoding="utf-8"))
    data.setdefault("logging", {})["trace"] = True
    with config_path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)


def stage_times(log_path: Path) -> dict[str, dict[str, float]]:
    """The stage trace records in a bridge log: Rocket.Chat message id → stage → time
    (CLOCK_MONOTONIC seconds, the clock of ``time.perf_counter`` on Linux)."""
    found: dict[str, dict[str, float]] = {}
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _RELAY.search(line)
        if match is not None:
            stamps = dict(word.split("=", 1) for word in match.group(2).split())
            found[match.group(1)] = {stage: float(t) for stage, t in stamps.items()}
    return found


_RELAY = re.compile(r"bridge\.trace: relay rc:(\S+) (.*)$")


def txn_id() -> str:
    return f"bench-{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}"
