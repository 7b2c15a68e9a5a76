"""Benchmark 6: scale-out, 1, 2 and 4 bridge processes on one PostgreSQL database.

Each process is ``python -m bridge run`` with a config of its own that differs only in
its port (same database, tokens and keys), as an operator would run them behind a load
balancer. The homeserver side is the instant fake of benchmark 2 in this process, and its
transactions go round-robin to the processes (the load balancer); Rocket.Chat is the
simulator in a process of its own. A run ends when every event's Rocket.Chat send is
done and its disclosure recorded. CPU seconds are read from /proc for every process that
takes part (the bridges, the simulator, PostgreSQL's backends and this process), so a
figure bounded by the machine's cores shows as such.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bench import machine, pg
from bench.bridge_config import write_config
from bench.ceiling import HS1, Size, matrix_rooms, remote_users, transactions, warmup_transactions
from bench.fakes import FakeHomeserver
from bench.results import BenchResult, Verdict
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.demo_process import ChildProcess
from bridge.sandbox.demo_rocketchat import SIM_ADMIN_PASSWORD, SIM_ADMIN_USERNAME, seed_rocketchat
from bridge.sandbox.ports import free_ports
from bridge.storage.bridging_rows import PortalRow
from bridge.storage.database import Database
from bridge.storage.ledger_rows import Disclosure
from bridge.storage.models import InboxEvent, OutboxAction

log = logging.getLogger(__name__)

PROCESSES = (1, 2, 4)
DEADLINE_S = 900.0
BOT = "bridgebot"


@dataclass(frozen=True)
class Plan:
    size: Size
    runs: int


FULL = Plan(Size(events=2_000, rooms=16, users=20, runs=1), runs=3)
QUICK = Plan(Size(events=200, rooms=4, users=4, runs=1), runs=1)


@dataclass(frozen=True)
class Timing:
    seconds: float
    cpu: dict[str, float]  # CPU seconds per part: bridges, simulator, postgres, bench


async def run(plan: Plan, postgres_url: str | None) -> BenchResult:
    result = BenchResult("scaleout", "6. Scale-out")
    result.setup = [
        f"{plan.size.events:,} `m.room.message` events per run from {plan.size.users} remote "
        f"users in {plan.size.rooms} bridged rooms, in transactions of "
        f"{plan.size.txn_events}, {plan.size.in_flight} in flight per bridge process",
        "1, 2 and 4 `python -m bridge run` processes on one PostgreSQL database, configs "
        "alike but for the port; the instant fake homeserver of benchmark 2 in the bench's "
        "process sends the transactions round-robin to them; the Rocket.Chat simulator in "
        "a process of its own; timed until every send is done and its disclosure recorded",
        "CPU seconds from /proc for the bridge processes, the simulator, the PostgreSQL "
        "backends serving the database and the bench's own process (fake homeserver and "
        "HTTP client)",
        f"{plan.runs} runs per process count; a fresh database and processes per run",
    ]
    if not postgres_url or not await pg.reachable(postgres_url):
        result.notes.append("PostgreSQL was not reachable: nothing was measured.")
        result.verdicts.append(Verdict("≥ 1.8× with 2, ≥ 3.2× with 4", None, "not measured"))
        return result
    for run_no in range(plan.runs):
        base: float | None = None
        for n in PROCESSES:
            load = machine.load_1min()
            timing = await _one(plan.size, n, postgres_url, f"s{run_no}n{n}")
            rate = plan.size.events / timing.seconds
            base = rate if n == 1 else base
            result.metric(f"{n} process(es): end to end", "events/s", "higher").add(rate)
            if base is not None and n > 1:
                result.metric(f"{n} processes / 1 (same run)", "×", "higher").add(rate / base)
            for part, seconds in timing.cpu.items():
                result.metric(f"{n} process(es): CPU, {part}", "s").add(max(seconds, 0.001))
            busy = sum(timing.cpu.values()) / timing.seconds
            result.metric(f"{n} process(es): CPU busy (cores)", "cores").add(max(busy, 0.001))
            result.metric(f"{n} process(es): load at start", "").add(max(load, 0.001))
            log.info("scale-out run %d, %d process(es): %.0f events/s", run_no + 1, n, rate)
    _verdict(result)
    return result


def _verdict(result: BenchResult) -> None:
    two = result.get("2 processes / 1 (same run)")
    four = result.get("4 processes / 1 (same run)")
    busy = result.get("1 process(es): CPU busy (cores)")
    result.verdicts.append(
        Verdict(
            "≥ 1.8× with 2 processes and ≥ 3.2× with 4",
            two.median >= 1.8 and four.median >= 3.2,
            f"2 processes {two.median:.2f}×, 4 processes {four.median:.2f}× of one "
            f"(runs {two.low:.2f}–{two.high:.2f} and {four.low:.2f}–{four.high:.2f}); "
            f"with one bridge process the whole set-up already keeps {busy.median:.2f} of "
            f"the {os.cpu_count()} cores busy",
        )
    )


async def _one(size: Size, n: int, postgres_url: str, tag: str) -> Timing:
    async with pg.throwaway_database(postgres_url, "bench_scaleout") as db_url:
        with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
            return await _measure(size, n, db_url, Path(tmp), tag)


async def _measure(size: Size, n: int, db_url: str, root: Path, tag: str) -> Timing:
    rooms = matrix_rooms(size)
    fake = FakeHomeserver(HS1, rooms, [f"@{BOT}:{HS1}", *remote_users(size)])
    await fake.start()
    (sim_port,) = free_ports(1)
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = ChildProcess(
        "Rocket.Chat simulator",
        "bridge.sandbox.rocketchat",
        ["--host", "127.0.0.1", "--port", str(sim_port), "--no-rate-limit"],
        root / "rocketchat.log",
    )
    bridges: list[ChildProcess] = []
    db = Database(db_url)
    try:
        sim.launch()
        await sim.wait_http(f"{sim_url}/_sim/state", 30)
        password = secrets.token_hex(12)
        seed = await seed_rocketchat(
            sim_url, bridge_username=BOT, bridge_password=password, usernames=(), channel="b-0"
        )
        rc_rooms = [seed.room_id]
        async with RCRestClient(sim_url) as admin:
            await admin.login(SIM_ADMIN_USERNAME, SIM_ADMIN_PASSWORD)
            for i in range(1, size.rooms):
                rc_rooms.append((await admin.room_create("channels", f"b-{i}", [])).id)
        await db.upgrade()
        urls = []
        mapping = {str(rc): mx for rc, mx in zip(rc_rooms, rooms, strict=True)}
        hs_token = secrets.token_hex(16)
        shared = _shared_settings(fake.url, db_url, sim_url, password, mapping, hs_token)
        for i, port in enumerate(free_ports(n)):
            config = _config(root / f"config-{i}.yaml", shared, port)
            argv = ["run", "-c", str(config)]
            proc = ChildProcess(f"bridge {i}", "bridge", argv, root / f"bridge-{i}.log")
            proc.launch()
            bridges.append(proc)
            await proc.wait_http(f"http://127.0.0.1:{port}/_bridge/health/live", 60)
            urls.append(f"http://127.0.0.1:{port}")
        # The first process links the rooms once it has logged in to Rocket.Chat; a
        # message before that finds no portal and is not relayed.
        await _wait(lambda: _linked(db, size.rooms), "portals linked")
        await _settle(db, urls, hs_token, warmup_transactions(size), size.users * size.rooms)
        bodies = transactions(size, tag, size.events)
        pids = {"bridges": [b.pid for b in bridges if b.pid], "simulator": [sim.pid or 0]}
        before = _cpu(pids)
        backends = await pg.backend_cpu(db_url)
        began = time.perf_counter()
        await _put_round_robin(urls, hs_token, bodies, size.in_flight * n, tag)
        expected = size.users * size.rooms + size.events
        await _wait(lambda: _at_least(db, expected), "all sends recorded")
        seconds = time.perf_counter() - began
        after = _cpu(pids)
        spent = {k: after[k] - before[k] for k in after}
        spent["postgresql"] = sum((await pg.backend_cpu(db_url, since=backends)).values())
        return Timing(seconds, spent)
    finally:
        for proc in bridges:
            await proc.stop()
        await sim.stop()
        await fake.stop()
        await db.close()


def _shared_settings(
    hs_url: str,
    db_url: str,
    sim_url: str,
    password: str,
    rooms: dict[str, str],
    hs_token: str,
) -> dict[str, dict[str, object]]:
    return {
        "homeserver": {"address": hs_url, "domain": HS1},
        "appservice": {
            "as_token": secrets.token_hex(16),
            "hs_token": hs_token,
            "hostname": "127.0.0.1",
            "bot_username": BOT,
        },
        "database": {"url": db_url},
        "rocketchat": {"url": sim_url, "username": BOT, "password": password},
        "privacy": {"hash_key": secrets.token_hex(32)},
        "storage": {"encryption_key": secrets.token_hex(32)},
        "bridge": {"rooms": rooms},
        "logging": {"level": "WARNING"},
    }


def _config(path: Path, shared: dict[str, dict[str, object]], port: int) -> Path:
    own = {**shared["appservice"], "port": port, "address": f"http://127.0.0.1:{port}"}
    return write_config(path, **{**shared, "appservice": own})


async def _settle(
    db: Database, urls: list[str], hs_token: str, warm: list[bytes], count: int
) -> None:
    """Warm-up, untimed: the shadows are made and join, and everything is handled."""
    await _put_round_robin(urls, hs_token, warm, 4 * len(urls), "warm")
    await _wait(lambda: _at_least(db, count), "warm-up")
    for _ in range(2):  # the shadows' joins come back from Rocket.Chat as events
        await asyncio.sleep(1.0)
        await _wait(lambda: _quiet(db), "warm-up settled")


async def _put_round_robin(
    urls: list[str], hs_token: str, bodies: list[bytes], in_flight: int, tag: str
) -> None:
    """Transaction i to process i mod n, as a load balancer in front of them would."""
    sem = asyncio.Semaphore(in_flight)
    headers = {"Authorization": f"Bearer {hs_token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def put(i: int, body: bytes) -> None:
            async with sem:
                url = f"{urls[i % len(urls)]}/_matrix/app/v1/transactions/{tag}-{i}"
                async with session.put(url, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"transaction {i} answered {resp.status}")
                    await resp.read()

        await asyncio.gather(*(put(i, b) for i, b in enumerate(bodies)))


async def _at_least(db: Database, n: int) -> bool:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Disclosure)) or 0) >= n


async def _linked(db: Database, rooms: int) -> bool:
    async with db.sessions() as session:
        linked = await session.scalar(select(func.count()).select_from(PortalRow))
    return int(linked or 0) >= rooms and await _quiet(db)


async def _quiet(db: Database) -> bool:
    async with db.sessions() as session:
        inbox = await session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
        )
        outbox = await session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.status == "pending")
        )
    return not inbox and not outbox


async def _wait(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not finished within {DEADLINE_S:.0f} s")
        await asyncio.sleep(0.05)


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    out = {part: sum(machine.cpu_seconds(p) for p in ids) for part, ids in pids.items()}
    out["bench (fake homeserver, HTTP client)"] = time.process_time()
    return out
