"""Benchmark 3: the disclosure ledger at scale, on SQLite and PostgreSQL.

A fresh database per backend, its schema made by the real Alembic migrations, is bulk
loaded with synthetic disclosures (``bench.ledger_load``); the queries then run through
the real ``LedgerQueries`` API in a child process (``bench.ledger_probe``) whose memory
is sampled from outside.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ledger_load, pg
from bench.ledger_data import Shape
from bench.results import BenchResult, Verdict, percentile
from bench.rss import RssSampler
from bridge.storage.database import Database

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Plan:
    shape: Shape
    runs: int
    queries: int
    # False: indexes grow during the load as they do in a running bridge (the figure
    # that matters); True: dropped and rebuilt packed, a faster load.
    rebuild_indexes: bool = False


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()


async def _probe(url: str, plan: Plan) -> tuple[dict[str, Any], dict[str, float]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ledger_probe",
        url,
        "--runs",
        str(plan.runs),
        "--queries",
        str(plan.queries),
        "--subjects",
        str(plan.shape.subjects),
        "--servers",
        str(plan.shape.servers),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    sampler = RssSampler(proc.pid, 0.1)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"ledger probe did not start: {line!r}")
        sampler.phase = "idle"
        sampler.start()
        await asyncio.sleep(1.0)
        sampler.phase = "queries"
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        out = await asyncio.wait_for(proc.stdout.read(), PROBE_TIMEOUT_S)
        await proc.wait()
    finally:
        await sampler.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"ledger probe exited with {proc.returncode}")
    idle, busy = sampler.of("idle"), sampler.of("queries")
    memory = {
        "idle_mib": max(idle) if idle else float("nan"),
        "peak_mib": max(busy) if busy else float("nan"),
        "end_mib": busy[-1] if busy else float("nan"),
    }
    return json.loads(out), memory


async def _backend(result: BenchResult, name: str, url: str, plan: Plan) -> None:
    await _migrate(url)
    if url.startswith("sqlite"):
        seconds = await asyncio.to_thread(
            ledger_load.load_sqlite, url, plan.shape, plan.rebuild_indexes
        )
        size = await asyncio.to_thread(ledger_load.sqlite_bytes, url)
    else:
        seconds = await ledger_load.load_postgres(url, plan.shape, plan.rebuild_indexes)
        size = await ledger_load.postgres_bytes(url)
    log.info("%s: %d disclosures loaded in %.0f s", name, size["rows"], seconds)
    result.metric(f"{name}: bulk load (set-up, not a bridge figure)", "s").add(seconds)
    result.metric(f"{name}: bytes per disclosure (table + its indexes)", "B").add(
        size["disclosure_bytes"] / size["rows"]
    )
    result.metric(f"{name}: whole database per disclosure", "B").add(
        size["file_bytes"] / size["rows"]
    )
    probe, memory = await _probe(url, plan)
    result.extra.setdefault("memory", {})[name] = memory
    for run in probe["runs"]:
        for label, key in (
            ("recipients of subject", "recipients_ms"),
            ("what went to server", "server_ms"),
        ):
            samples = run[key]
            result.metric(f"{name}: {label}, p50", "ms").add(percentile(samples, 50))
            result.metric(f"{name}: {label}, p99", "ms").add(percentile(samples, 99))
        result.metric(f"{name}: recipients of the 100k-item subject", "ms").add(
            run["heavy_recipients_ms"]
        )
        result.metric(f"{name}: erasure plan, all pages", "s").add(run["plan_s"])
        if run["plan_items"] != plan.shape.heavy_items:
            raise RuntimeError(f"plan had {run['plan_items']} items, not {plan.shape.heavy_items}")


async def run(plan: Plan, postgres_url: str | None) -> BenchResult:
    shape = plan.shape
    result = BenchResult("ledger", "3. Ledger at scale")
    result.setup = [
        f"{shape.disclosures:,} synthetic disclosures, {shape.rooms:,} rooms, {shape.servers} "
        f"homeservers (+ the organisation's Rocket.Chat), {shape.subjects:,} subjects; each room "
        "shared with 2–8 remote servers, a fifth of them with a leave and a rejoin; subject 1 "
        f"holds {shape.heavy_items:,} items in 50 rooms; two years of send times; real id lengths",
        "schema by the real Alembic migrations in a fresh database; bulk load in send-time "
        + (
            "order with the two disclosure indexes dropped and re-created afterwards from the "
            "migrations' own definitions (packed tighter than a running bridge grows them); "
            if plan.rebuild_indexes
            else "order with every index in place, so the indexes grow as a running bridge "
            "grows them (the subject index by random inserts and page splits); "
        )
        + "SQLite with `synchronous=OFF` and unchecked foreign keys during the "
        "load only, PostgreSQL with `COPY` then `VACUUM ANALYZE` (what autovacuum would do)",
        f"per run: {plan.queries} `recipients_of_subject` on random subjects, {plan.queries} "
        "`disclosed_to` (first page of 100, the CLI's default) on random homeservers, "
        "`recipients_of_subject` of the heavy subject, and its whole `erasure_plan` paged "
        "through 1,000 at a time; all through `bridge.privacy.queries.LedgerQueries` in a "
        f"child process; {plan.runs} runs per backend on the same data",
        "bytes per disclosure: SQLite `dbstat` pages of `ledger_disclosure` and its two "
        "indexes; PostgreSQL `pg_total_relation_size('ledger_disclosure')` (heap, primary "
        "key, both indexes, TOAST)",
    ]
    backends: list[str] = ["SQLite"]
    if postgres_url and await pg.reachable(postgres_url):
        backends.append("PostgreSQL")
    else:
        result.notes.append("PostgreSQL was not reachable: only SQLite was measured.")
    began = time.monotonic()
    for name in backends:
        if name == "SQLite":
            with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
                await _backend(result, name, f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}", plan)
        else:
            assert postgres_url is not None
            async with pg.throwaway_database(postgres_url, "bench_ledger") as url:
                await _backend(result, name, url, plan)
    result.seconds = time.monotonic() - began
    _verdicts(result, backends)
    return result


def _verdicts(result: BenchResult, backends: list[str]) -> None:
    worst_p99 = {
        name: max(
            result.get(f"{name}: recipients of subject, p99").median,
            result.get(f"{name}: what went to server, p99").median,
        )
        for name in backends
    }
    figures = []
    for name in backends:
        who = result.get(f"{name}: recipients of subject, p99").median
        where = result.get(f"{name}: what went to server, p99").median
        figures.append(f"{name}: recipients p99 {who:.1f} ms, server p99 {where:.1f} ms")
    result.verdicts.append(
        Verdict(
            "p99 < 50 ms (recipients of subject, what went to server)",
            all(v < 50 for v in worst_p99.values()),
            "; ".join(figures),
        )
    )
    plans = {name: result.get(f"{name}: erasure plan, all pages").median for name in backends}
    result.verdicts.append(
        Verdict(
            "erasure plan of a 100k-item subject < 2 s",
            all(v < 2 for v in plans.values()),
            "; ".join(f"{name}: {v:.2f} s" for name, v in plans.items()),
        )
    )
    sizes = {
        name: result.get(f"{name}: bytes per disclosure (table + its indexes)").median
        for name in backends
    }
    result.verdicts.append(
        Verdict(
            "< 250 bytes per disclosure",
            all(v < 250 for v in sizes.values()),
            "; ".join(f"{name}: {v:.0f} B" for name, v in sizes.items()),
        )
    )
