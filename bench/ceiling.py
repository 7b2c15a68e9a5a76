"""Benchmark 2: the bridge-only ceiling, intake → inbox → relay → outbox → ledger.

The real ``BridgeApp`` (HTTP intake, inbox worker, dispatcher and relays, outbox worker,
ledger records) runs in this process against instant fakes: :class:`FakeHomeserver` and
the Rocket.Chat simulator, both aiohttp apps on port 0. Homeserver transactions of 50
``m.room.message`` events from remote users in bridged rooms are PUT over loopback with a
few in flight; a run ends when every event's Rocket.Chat send is done and its disclosure
recorded. The same run times mautrix's stock ``AppService`` handler (no persistence) on
the same transactions, and a plain batched SQLite insert of the same events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mautrix.appservice import AppService
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store.memory import MemoryStateStore
from sqlalchemy import event, func, select

from bench import machine, pg
from bench.bridge_config import write_config
from bench.fakes import FakeHomeserver
from bench.results import BenchResult, Verdict
from bridge.app import BridgeApp
from bridge.config import load_config
from bridge.sandbox.ports import free_ports
from bridge.sandbox.rocketchat.app import SimConfig, SimulatorServer
from bridge.storage.database import Database
from bridge.storage.ledger_rows import Disclosure
from bridge.storage.models import InboxEvent

log = logging.getLogger(__name__)

HS1 = "hs1.bench"
REMOTES = ("hs2.bench", "hs3.bench")
BRIDGE_RC_USER = "bridgebot"
DEADLINE_S = 600.0


@dataclass(frozen=True)
class Size:
    events: int
    rooms: int
    users: int
    runs: int
    txn_events: int = 50
    in_flight: int = 4


FULL = Size(events=2_000, rooms=16, users=20, runs=5)
QUICK = Size(events=200, rooms=4, users=4, runs=1)


@dataclass(frozen=True)
class DurableTiming:
    acked_s: float  # every transaction answered 200 (events committed to the inbox)
    inbox_s: float  # every event handled by the inbox worker
    done_s: float  # every Rocket.Chat send done and its disclosure recorded
    statements: int  # SQL statements the bridge ran meanwhile (the bench's probes excluded)
    cpu_s: float = 0.0  # CPU seconds of this process (bridge, fakes, simulator, HTTP client)
    db_cpu_s: float = 0.0  # CPU seconds of the PostgreSQL backends serving the bridge


# -- the transactions --------------------------------------------------------------------


def remote_users(size: Size) -> list[str]:
    return [f"@user{i}:{REMOTES[i % len(REMOTES)]}" for i in range(size.users)]


def matrix_rooms(size: Size) -> list[str]:
    return [f"!room{i}:{HS1}" for i in range(size.rooms)]


def _message(n: int, tag: str, sender: str, room: str) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": f"${tag}{n:08d}benchmarkeventid0000000000000000",
        "sender": sender,
        "room_id": room,
        "origin_server_ts": int(time.time() * 1000),
        "content": {"msgtype": "m.text", "body": f"benchmark message {n} with some words in it"},
        "unsigned": {"age": 1},
    }


def transactions(size: Size, tag: str, count: int) -> list[bytes]:
    """``count`` events in transactions of ``size.txn_events``, as request bodies."""
    users, rooms = remote_users(size), matrix_rooms(size)
    events = [
        _message(n, tag, users[n % len(users)], rooms[(n // len(users)) % len(rooms)])
        for n in range(count)
    ]
    step = size.txn_events
    return [json.dumps({"events": events[i : i + step]}).encode() for i in range(0, count, step)]


def warmup_transactions(size: Size) -> list[bytes]:
    """One message per (user, room): shadow accounts, room joins and notices happen here."""
    users, rooms = remote_users(size), matrix_rooms(size)
    events = [
        _message(n, "warm", users[n % len(users)], rooms[n // len(users)])
        for n in range(len(users) * len(rooms))
    ]
    return [json.dumps({"events": events[i : i + 50]}).encode() for i in range(0, len(events), 50)]


async def put_all(url: str, hs_token: str, bodies: list[bytes], in_flight: int, tag: str) -> None:
    sem = asyncio.Semaphore(in_flight)
    headers = {"Authorization": f"Bearer {hs_token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def put(i: int, body: bytes) -> None:
            async with sem:
                target = f"{url}/_matrix/app/v1/transactions/{tag}-{i}"
                async with session.put(target, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"transaction {i} answered {resp.status}")
                    await resp.read()

        await asyncio.gather(*(put(i, b) for i, b in enumerate(bodies)))


# -- the durable path --------------------------------------------------------------------


@asynccontextmanager
async def bridge_under_test(size: Size, db_url: str, workdir: Path) -> AsyncIterator[BridgeApp]:
    rooms = matrix_rooms(size)
    fake = FakeHomeserver(HS1, rooms, [f"@bridgebot:{HS1}", *remote_users(size)])
    await fake.start()
    sim = SimulatorServer(SimConfig(rate_limit=False, ping_interval=5.0))
    await sim.start()
    app: BridgeApp | None = None
    try:
        password = "bench-bridge-password"  # noqa: S105 - simulator account
        bot = sim.state.add_user(BRIDGE_RC_USER, password, ["admin", "bot"])
        rc_rooms = [sim.state.add_room("c", f"bench-{i}", bot, []).id for i in range(size.rooms)]
        (port,) = free_ports(1)
        config_path = write_config(
            workdir / "config.yaml",
            homeserver={"address": fake.url, "domain": HS1},
            appservice={
                "address": f"http://127.0.0.1:{port}",
                "hostname": "127.0.0.1",
                "port": port,
                "bot_username": "bridgebot",
            },
            database={"url": db_url},
            rocketchat={"url": sim.url, "username": BRIDGE_RC_USER, "password": password},
            bridge={"rooms": dict(zip(rc_rooms, rooms, strict=True))},
        )
        app = BridgeApp(load_config(config_path))
        await app.db.upgrade()
        await app.start()
        assert app.rocketchat is not None
        await asyncio.wait_for(app.rocketchat.ready.wait(), 30)
        await _wait(lambda: _outbox_idle(app), "portal set-up")
        yield app
    finally:
        if app is not None:
            probe = _PROBES.pop(id(app), None)
            if probe is not None:
                await probe.close()
            await app.stop()
        await sim.stop()
        await fake.stop()


_PROBES: dict[int, Database] = {}


def _probe_db(app: BridgeApp) -> Database:
    """A connection pool of the bench's own, so its polls are not counted as the bridge's."""
    db = _PROBES.get(id(app))
    if db is None:
        db = _PROBES[id(app)] = Database(app.db.url)
    return db


async def _outbox_idle(app: BridgeApp) -> bool:
    return (await _probe_db(app).outbox.stats()).pending == 0


async def _disclosures(app: BridgeApp) -> int:
    async with _probe_db(app).sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Disclosure)) or 0)


async def _inbox_pending(app: BridgeApp) -> int:
    async with _probe_db(app).sessions() as session:
        q = select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
        return int(await session.scalar(q) or 0)


async def _wait(probe: Callable[[], Awaitable[bool]], what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not finished within {DEADLINE_S:.0f} s")
        await asyncio.sleep(interval)


async def durable_run(
    size: Size, db_url: str, bodies: list[bytes], profile: Path | None
) -> DurableTiming:
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        async with bridge_under_test(size, db_url, Path(tmp)) as app:
            cfg = app.config.appservice
            url = f"http://127.0.0.1:{cfg.port}"
            warm = warmup_transactions(size)
            await put_all(url, cfg.hs_token, warm, size.in_flight, "warm")
            warm_events = size.users * size.rooms
            await _wait(lambda: _count_at_least(app, warm_events), "warm-up")
            await _wait(lambda: _outbox_idle(app), "warm-up outbox")
            # The shadows' joins come back from Rocket.Chat as events of their own: let
            # them be handled before the clock starts.
            await asyncio.sleep(1.0)
            await _wait(lambda: _no_pending(app), "warm-up inbox")
            await _wait(lambda: _outbox_idle(app), "warm-up outbox")
            expected = warm_events + size.events
            statements = _count_statements(app)
            profiler = _start_profiler(profile)
            backends = await pg.backend_cpu(db_url)
            cpu = time.process_time()
            began = time.perf_counter()
            await put_all(url, cfg.hs_token, bodies, size.in_flight, "run")
            acked = time.perf_counter() - began
            await _wait(lambda: _no_pending(app), "inbox")
            inbox = time.perf_counter() - began
            await _wait(lambda: _count_at_least(app, expected), "outbox")
            done = time.perf_counter() - began
            cpu = time.process_time() - cpu
            db_cpu = await pg.backend_cpu(db_url, since=backends)
            _stop_profiler(profiler, profile)
            event.remove(app.db.engine.sync_engine, "before_cursor_execute", statements)
            return DurableTiming(acked, inbox, done, statements.count, cpu, sum(db_cpu.values()))


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


def _count_statements(app: BridgeApp) -> _Counter:
    counter = _Counter()
    event.listen(app.db.engine.sync_engine, "before_cursor_execute", counter)
    return counter


async def _count_at_least(app: BridgeApp, n: int) -> bool:
    return await _disclosures(app) >= n


async def _no_pending(app: BridgeApp) -> bool:
    return await _inbox_pending(app) == 0


def _start_profiler(path: Path | None) -> Any:
    if path is None:
        return None
    from pyinstrument import Profiler  # noqa: PLC0415 - the bench extra

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, path: Path | None) -> None:
    if profiler is None or path is None:
        return
    profiler.stop()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    log.info("profile written to %s", path)


# -- the comparison points ---------------------------------------------------------------


class _Store(MemoryStateStore, ASStateStore):  # type: ignore[misc]
    """In-memory state store (mautrix would otherwise write mx-state.json; docs/synapse-notes.md,
    mautrix's appservice state store)."""

    def __init__(self) -> None:
        MemoryStateStore.__init__(self)
        ASStateStore.__init__(self)


async def stock_run(size: Size, bodies: list[bytes]) -> float:
    """Seconds for mautrix's stock handler to answer every transaction and handle every event."""
    hs_token = "stock-hs-token"  # noqa: S105 - loopback only
    appservice = AppService(
        server="http://127.0.0.1:1",
        domain=HS1,
        as_token="stock-as-token",  # noqa: S106 - loopback only
        hs_token=hs_token,
        bot_localpart="bot",
        id="stock",
        state_store=_Store(),
    )
    handled = 0
    all_handled = asyncio.Event()
    expected = size.events

    @appservice.matrix_event_handler
    async def count(_event: Any) -> None:
        nonlocal handled
        handled += 1
        if handled >= expected:
            all_handled.set()

    runner = web.AppRunner(appservice.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        began = time.perf_counter()
        await put_all(f"http://127.0.0.1:{port}", hs_token, bodies, size.in_flight, "stock")
        await asyncio.wait_for(all_handled.wait(), DEADLINE_S)
        return time.perf_counter() - began
    finally:
        await runner.cleanup()


def sqlite_floor(bodies: list[bytes]) -> tuple[float, int]:
    """A plain batched insert of the same events: WAL, synchronous=NORMAL, one commit per
    transaction of 50, the events parsed from and stored as JSON like the inbox does."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE inbox (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, "
                "room_id TEXT, event_type TEXT, payload TEXT NOT NULL, status TEXT NOT NULL)"
            )
            began = time.perf_counter()
            n = 0
            for body in bodies:
                events = json.loads(body)["events"]
                rows = [
                    (e["event_id"], e["room_id"], e["type"], json.dumps(e), "pending")
                    for e in events
                ]
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO inbox (event_id, room_id, event_type, payload, status) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
                n += len(rows)
            return time.perf_counter() - began, n
        finally:
            conn.close()


# -- the benchmark -----------------------------------------------------------------------


async def run(size: Size, postgres_url: str | None, profile_dir: Path | None = None) -> BenchResult:
    result = BenchResult("ceiling", "2. Bridge-only ceiling")
    result.setup = [
        f"{size.events:,} `m.room.message` events per run from {size.users} remote users in "
        f"{size.rooms} bridged rooms, in transactions of {size.txn_events}, "
        f"{size.in_flight} transactions in flight, over loopback HTTP",
        "durable path: the real `BridgeApp` in this process (appservice intake, inbox "
        "worker, dispatcher and relays, outbox worker, ledger records) against an instant "
        "fake homeserver and the in-process Rocket.Chat simulator; timed until every "
        "event's Rocket.Chat send is done and its disclosure recorded (a warm-up "
        "message per user and room creates the shadow accounts first, untimed)",
        "stock: mautrix `AppService`'s own `/transactions` handler (answers after "
        "dispatching in memory, no persistence) with one counting event handler",
        "floor: stdlib `sqlite3`, WAL, `synchronous=NORMAL`, one commit per 50 events",
        f"{size.runs} runs; a fresh database, bridge and simulator per run; ratios per run",
    ]
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if postgres_url and await pg.reachable(postgres_url):
        backends.append(("PostgreSQL", postgres_url))
    else:
        result.notes.append("PostgreSQL was not reachable: only SQLite was measured.")
    stock = result.metric("stock mautrix handler", "events/s", "higher")
    floor = result.metric("plain batched SQLite insert", "events/s", "higher")
    for run_no in range(size.runs):
        bodies = transactions(size, f"r{run_no}x", size.events)
        stock.add(size.events / await stock_run(size, bodies))
        seconds, n = await asyncio.to_thread(sqlite_floor, bodies)
        floor.add(n / seconds)
        for name, url in backends:
            profile = (
                profile_dir / f"ceiling-{name.lower()}-run{run_no}.txt"
                if profile_dir is not None
                else None
            )
            load = machine.load_1min()
            timing = await _durable(size, name, url, bodies, profile)
            rate = size.events / timing.done_s
            result.metric(
                f"durable path, {name}: intake (200 after commit)", "events/s", "higher"
            ).add(size.events / timing.acked_s)
            result.metric(f"durable path, {name}: inbox handled", "events/s", "higher").add(
                size.events / timing.inbox_s
            )
            result.metric(
                f"durable path, {name}: end to end (sent + recorded)", "events/s", "higher"
            ).add(rate)
            result.metric(f"durable path, {name}: SQL statements per event", "").add(
                timing.statements / size.events
            )
            result.metric(
                f"durable path, {name}: CPU per event, bench process (bridge, fakes, simulator)",
                "ms",
            ).add(max(1000 * timing.cpu_s / size.events, 0.001))
            result.metric(
                f"durable path, {name}: CPU busy, bench process (share of one core)", "%"
            ).add(max(100 * timing.cpu_s / timing.done_s, 0.001))
            if url is not None:
                result.metric(
                    f"durable path, {name}: CPU per event, PostgreSQL backends", "ms"
                ).add(max(1000 * timing.db_cpu_s / size.events, 0.001))
            result.metric(f"durable path, {name}: 1-minute load at start of run", "").add(
                max(load, 0.001)
            )
            result.metric(f"ratio durable {name} / stock (same run)", "×", "higher").add(
                rate / stock.values[-1]
            )
        log.info("ceiling run %d/%d done", run_no + 1, size.runs)
    _verdicts(result, [name for name, _ in backends])
    return result


async def _durable(
    size: Size, name: str, url: str | None, bodies: list[bytes], profile: Path | None
) -> DurableTiming:
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench-ceiling-db-") as tmp:
            return await durable_run(size, f"sqlite+aiosqlite:///{tmp}/bridge.db", bodies, profile)
    async with pg.throwaway_database(url, "bench_ceiling") as db_url:
        return await durable_run(size, db_url, bodies, profile)


def _verdicts(result: BenchResult, backends: list[str]) -> None:
    for name in backends:
        rate = result.get(f"durable path, {name}: end to end (sent + recorded)")
        ratio = result.get(f"ratio durable {name} / stock (same run)")
        cpu = result.get(
            f"durable path, {name}: CPU per event, bench process (bridge, fakes, simulator)"
        )
        result.verdicts.append(
            Verdict(
                f"{name}: ≥ 5,000 events/s and ≥ 0.5× the stock handler",
                rate.low >= 5000 and ratio.median >= 0.5,
                f"median {rate.median:,.0f} events/s (slowest run {rate.low:,.0f}), "
                f"{ratio.median:.3f}× the stock handler; {cpu.median:.1f} ms of CPU per event "
                "in the one process that holds the bridge, the simulator and the fake",
            )
        )
    per_event = {n: result.get(f"durable path, {n}: SQL statements per event") for n in backends}
    result.verdicts.append(
        Verdict(
            "≤ 3 SQL statements per event, amortised",
            all(m.median <= 3 for m in per_event.values()),
            ", ".join(
                f"{n}: median {m.median:.2f} (runs {m.low:.2f}–{m.high:.2f})"
                for n, m in per_event.items()
            ),
        )
    )
