"""Two ``bridge run`` processes on one PostgreSQL database, behind a round-robin proxy.

The homeserver calls the appservice through a loopback TCP proxy that hands each
connection to the next live process. A burst crosses both ways while the process
leading the Rocket.Chat realtime listener is killed (SIGKILL); then an erasure of many
items runs while the process doing it is killed. Every message arrives once on the other
side, in order; the listener moves to the survivor; every item is redacted once, and the
request ends ``done`` (docs/operations.md, "Several processes on one PostgreSQL").

Several processes need PostgreSQL (SQLite serves one process), so this module has tests
only when ``BRIDGE_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mautrix.types import PaginationDirection, RoomID
from ruamel.yaml import YAML
from sqlalchemy import text

from bridge.config import load_config
from bridge.ids import RCRoomID
from bridge.pipeline import keys
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_model import ErasureStatus, RequestState
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.database import Database
from tests.bridging.helpers import MatrixView
from tests.erasure.helpers import OFFICER
from tests.fixtures.bridge_process import BridgeProcess, free_port
from tests.fixtures.bridge_stack import BRIDGE_RC_USER, BridgeStack, wait_for
from tests.fixtures.databases import POSTGRES_URL, postgres_database
from tests.fixtures.tcp_proxy import RoundRobinProxy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(900),
]

BURST = 100
KILL_AT = 40  # messages sent each way before the first SIGKILL
METRICS_TOKEN = "metrics-token-for-several-processes"  # noqa: S105 - test only
LEADER_LINE = re.compile(r'^bridge_leader\{job="rocketchat_intake"\} (\S+)$', re.MULTILINE)


@dataclass
class Deployment:
    db: Database
    processes: list[BridgeProcess]
    proxy: RoundRobinProxy
    config_paths: list[Path]

    async def metrics(self, proc: BridgeProcess) -> str:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{proc.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            ) as resp,
        ):
            assert resp.status == 200
            return await resp.text()

    async def leader(self) -> BridgeProcess | None:
        """The one live process leading the realtime listener, once exactly one does."""
        leading = []
        for proc in self.live():
            found = LEADER_LINE.search(await self.metrics(proc))
            if found and float(found.group(1)) == 1.0:
                leading.append(proc)
        return leading[0] if len(leading) == 1 else None

    async def done_count(self, proc: BridgeProcess, kind: str) -> float:
        pattern = rf'^bridge_outbox_actions_done_total\{{kind="{re.escape(kind)}"\}} (\S+)$'
        found = re.search(pattern, await self.metrics(proc), re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    async def diagnosis(self) -> str:
        """What is still pending, and what the processes logged above INFO."""
        async with self.db.sessions() as session:
            inbox = (
                await session.execute(
                    text("SELECT status, count(*) FROM inbox_event GROUP BY status")
                )
            ).all()
            outbox = (
                await session.execute(
                    text(
                        "SELECT id, kind, queue, status, attempts, next_attempt_ms,"
                        " claimed_until_ms, last_error FROM outbox"
                        " WHERE status NOT IN ('done') ORDER BY id LIMIT 30"
                    )
                )
            ).all()
        lines = [f"inbox: {inbox}", "outbox not done:", *(f"  {r}" for r in outbox)]
        for proc in self.processes:
            log = proc.log_path.read_text(errors="replace").splitlines()
            noted = [line for line in log if " INFO " not in line][-40:]
            lines += [f"{proc.log_path.name}:", *(f"  {line[:300]}" for line in noted)]
        return "\n".join(lines)

    def live(self) -> list[BridgeProcess]:
        return [p for p in self.processes if p.proc is not None and p.proc.poll() is None]


if POSTGRES_URL:

    async def test_two_processes_lose_nothing_and_do_nothing_twice_when_one_is_killed(
        bridge_stack: BridgeStack, make_user: Callable[..., Awaitable[MatrixUser]], tmp_path: Path
    ) -> None:
        stack = bridge_stack
        carol = await stack.rc_user()
        carol_id = (await carol.me()).id
        creator = await stack.rc_user()
        rc_room = await creator.room_create(
            "channels",
            f"multi-{uuid.uuid4().hex[:8]}",
            [(await carol.me()).username, BRIDGE_RC_USER],
        )
        alice, bob = await make_user(1), await make_user(2)
        tag = uuid.uuid4().hex[:6]
        async with AsyncExitStack() as cleanup:
            views = MatrixView(alice), MatrixView(bob)
            for view in views:
                cleanup.push_async_callback(view.close)
            deployment = await cleanup.enter_async_context(
                _two_processes(stack, tmp_path, {rc_room.id: None})
            )
            room = await _portal_room(deployment.db, rc_room.id, stack, [alice, bob])
            await _burst_with_a_kill(deployment, carol, rc_room.id, views[0], room, tag)
            carols = await _check_burst(stack, deployment, views, room, rc_room.id, tag)
            await _erasure_with_a_kill(deployment, carol_id, views[1], room, carols)


@asynccontextmanager
async def _two_processes(
    stack: BridgeStack, tmp_path: Path, rooms: dict[str, None]
) -> AsyncIterator[Deployment]:
    """Two processes with one configuration (each its own port) on a fresh database, the
    proxy on the registration's URL in front of them."""
    async with postgres_database() as url, stack.paused():
        db = Database(
            url,
            pseudonym_key=stack.config.privacy.hash_key.encode(),
            encryption_key=stack.config.storage.encryption_key,
        )
        await db.upgrade()
        ports = [free_port(), free_port()]
        paths = [
            _config(stack.config_path, tmp_path / f"config{n}.yaml", url, port, rooms)
            for n, port in enumerate(ports)
        ]
        proxy = RoundRobinProxy(
            [("127.0.0.1", p) for p in ports], port=stack.config.appservice.port
        )
        await proxy.start()
        procs = [
            BridgeProcess(path, port, tmp_path / f"bridge{n}.log")
            for n, (path, port) in enumerate(zip(paths, ports, strict=True))
        ]
        try:
            for proc in procs:
                await proc.start()
            yield Deployment(db, procs, proxy, paths)
        finally:
            for proc in procs:
                proc.stop()
            await proxy.stop()
            await db.close()


def _config(base: Path, path: Path, url: str, port: int, rooms: dict[str, None]) -> Path:
    yaml = YAML()
    data = yaml.load(base.read_text())
    data["database"]["url"] = url
    data["appservice"]["port"] = port  # the address stays the proxy's (the registration's)
    data["metrics"]["bearer_token"] = METRICS_TOKEN
    data["bridge"]["rooms"] = rooms
    with path.open("w") as f:
        yaml.dump(data, f)
    return path


async def _portal_room(
    db: Database, rc_room_id: str, stack: BridgeStack, members: list[MatrixUser]
) -> RoomID:
    """The configured room's portal, created once although both processes linked it."""

    async def created() -> RoomID | None:
        async with db.unit_of_work() as uow:
            portal = await uow.bridging.portal_by_rc(rc_room_id)
        return (
            None
            if portal is None or portal.matrix_room_id is None
            else RoomID(portal.matrix_room_id)
        )

    room = await wait_for(created, 60)
    bot = stack.bot_client()
    try:
        for user in members:
            await bot.invite_user(room, user.user_id)
            view = MatrixView(user)
            try:
                via = [stack.homeservers.server_names[0]]
                await view.client.join_room(room, servers=via, max_retries=0)
            finally:
                await view.close()
    finally:
        await bot.api.session.close()
    return room


async def _burst_with_a_kill(
    deployment: Deployment,
    carol: RCRestClient,
    rc_room_id: str,
    alice: MatrixView,
    room: RoomID,
    tag: str,
) -> None:
    """Both ways at once; the listener's process is killed after ``KILL_AT`` each way."""
    first = await wait_for(deployment.leader, 60)
    halfway = asyncio.Event(), asyncio.Event()

    async def from_rocketchat() -> None:
        for n in range(BURST):
            if n == KILL_AT:
                halfway[0].set()
                await halfway[1].wait()
            await carol.post_message(RCRoomID(rc_room_id), f"rc-{tag}-{n}")

    async def from_matrix() -> None:
        for n in range(BURST):
            if n == KILL_AT:
                halfway[1].set()
                await halfway[0].wait()
            await alice.send(room, {"msgtype": "m.text", "body": f"mx-{tag}-{n}"})

    senders = asyncio.gather(from_rocketchat(), from_matrix())
    try:
        async with asyncio.timeout(120):
            await halfway[0].wait()
            await halfway[1].wait()
        first.kill()
        async with asyncio.timeout(300):
            await senders
    except TimeoutError:
        raise AssertionError(f"the burst stalled\n{await deployment.diagnosis()}") from None
    finally:
        senders.cancel()
        await asyncio.gather(senders, return_exceptions=True)
    survivor = await wait_for(deployment.leader, 60)
    assert survivor is not first and survivor in deployment.live()


async def _check_burst(
    stack: BridgeStack,
    deployment: Deployment,
    views: tuple[MatrixView, MatrixView],
    room: RoomID,
    rc_room_id: str,
    tag: str,
) -> list[str]:
    """Every message once, in the order sent, on the other side (and on both homeservers);
    the event ids of the Rocket.Chat ones, as the second homeserver has them."""
    sent_rc = [f"rc-{tag}-{n}" for n in range(BURST)]
    sent_mx = [f"mx-{tag}-{n}" for n in range(BURST)]

    def on_rocketchat() -> list[str]:
        return [
            str(m.get("msg"))
            for m in stack.sim.state.messages.values()
            if m["rid"] == rc_room_id and str(m.get("msg", "")).startswith(f"mx-{tag}-")
        ]

    async def arrived() -> bool:
        if len(set(on_rocketchat())) < BURST:
            return False
        for view in views:
            bodies = await _bodies(view, room, f"rc-{tag}-")
            if len(set(bodies)) < BURST:
                return False
        return True

    try:
        await wait_for(arrived, 300)
    except TimeoutError:
        missing = {"on Rocket.Chat": sorted(set(sent_mx) - set(on_rocketchat()))}
        for view in views:
            seen = set(await _bodies(view, room, f"rc-{tag}-"))
            missing[f"on {view.user.homeserver.server_name}"] = sorted(set(sent_rc) - seen)
        raise AssertionError(f"missing: {missing}\n{await deployment.diagnosis()}") from None
    assert on_rocketchat() == sent_mx
    for view in views:
        assert await _bodies(view, room, f"rc-{tag}-") == sent_rc
    return [e["event_id"] for e in await _messages(views[1], room, f"rc-{tag}-")]


async def _bodies(view: MatrixView, room: RoomID, prefix: str) -> list[str]:
    return [str(e["content"]["body"]) for e in await _messages(view, room, prefix)]


async def _messages(view: MatrixView, room: RoomID, prefix: str) -> list[dict[str, Any]]:
    return [
        e
        for e in await _timeline(view, room)
        if e["type"] == "m.room.message" and str(e["content"].get("body", "")).startswith(prefix)
    ]


async def _timeline(view: MatrixView, room: RoomID) -> list[dict[str, Any]]:
    """The whole room, oldest first."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = await view.client.get_messages(
            room, PaginationDirection.BACKWARD, from_token=token, limit=500
        )
        events += [e.serialize() for e in page.events]
        if not page.events or not page.end or page.end == token:
            break
        token = page.end
    return list(reversed(events))


async def _erasure_with_a_kill(
    deployment: Deployment, carol_id: str, bob: MatrixView, room: RoomID, carols: list[str]
) -> None:
    """Restart the killed process; erase carol; kill the process doing it half-way."""
    for proc in deployment.processes:
        if proc not in deployment.live():
            await proc.start()
    config = load_config(deployment.config_paths[0])
    engine = ErasureEngine(deployment.db, erasure_settings(config))
    request_id = await engine.request(carol_id, OFFICER, verified=True)

    async def redacted() -> int:
        counts = await _redactions(deployment.db, request_id)
        return counts.get("done", 0)

    async def started() -> bool:
        return await redacted() >= BURST // 10

    await wait_for(started, 120)
    workers = deployment.live()
    shares = [await deployment.done_count(p, kinds.REDACT) for p in workers]
    doing = workers[shares.index(max(shares))]
    doing.kill()
    assert await redacted() < BURST, "the erasure must still be running when killed"

    async def done() -> ErasureStatus | None:
        status = await engine.status(request_id)
        return status if status.state.finished else None

    try:
        status = await wait_for(done, 300)
    except TimeoutError:
        raise AssertionError(f"erasure not finished\n{await deployment.diagnosis()}") from None
    assert status.state is RequestState.DONE, status
    assert status.matrix.get(words.REDACTION_SENT) == BURST
    assert await _redactions(deployment.db, request_id) == {"done": BURST}
    # One redaction per item on bob's homeserver: a repeat after the kill reused the
    # action's txnId, so the homeserver returned the first redaction.
    timeline = await _timeline(bob, room)
    redacts = [
        e.get("redacts") or e["content"].get("redacts")
        for e in timeline
        if e["type"] == "m.room.redaction"
    ]
    assert sorted(r for r in redacts if r in carols) == sorted(carols)
    assert not await _messages(bob, room, "rc-")  # redacted events keep no body


async def _redactions(db: Database, request_id: str) -> dict[str, int]:
    """The request's redaction actions by status."""
    async with db.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT status, count(*) FROM outbox WHERE kind = :kind AND key LIKE :prefix"
                " GROUP BY status"
            ),
            {"kind": kinds.REDACT, "prefix": keys.erasure_key_prefix(request_id) + "%"},
        )
        return {str(status): int(n) for status, n in rows}
