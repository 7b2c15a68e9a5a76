"""The one command: runs the benchmarks and writes BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from bench import machine, pg
from bench.report import render
from bench.results import BenchResult, Metric, Verdict

log = logging.getLogger("bench")

# sandbox = benchmarks 1, 4 and 5 together; overhead = benchmark 1 alone (same sandbox).
NAMES = ("ceiling", "ledger", "sandbox", "overhead", "scaleout")
DEFAULT = ("ceiling", "ledger", "sandbox", "scaleout")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement"
    )
    p.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        help="run only this benchmark group (repeatable); default: all",
    )
    p.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    p.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    p.add_argument(
        "--merge",
        type=Path,
        help="keep the figures of benchmarks not rerun now from this earlier --json file",
    )
    p.add_argument("--runs", type=int, help="override the number of runs")
    p.add_argument(
        "--render-only",
        type=Path,
        help="measure nothing: rewrite --output from this earlier --json file",
    )
    p.add_argument("--profile", type=Path, help="write pyinstrument profiles into this directory")
    p.add_argument(
        "--quiet-load",
        type=float,
        default=0.5,
        help="wait (bounded) for the 1-minute load average to drop below this first",
    )
    p.add_argument("--quiet-wait", type=float, default=600.0, help="longest wait, seconds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The bridge logs every outbox retry and room at INFO; in-process benchmarks keep its
    # logs at WARNING so the console stays readable (the bridge subprocess logs to a file).
    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("mau").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if args.render_only:
        data = json.loads(args.render_only.read_text(encoding="utf-8"))
        results = _load(args.render_only)
        _write(args, data["machine"], data["date"], results)
        return 0
    results = asyncio.run(run(args))
    return 0 if all(r.metrics and all(m.well_formed() for m in r.metrics) for r in results) else 1


async def run(args: argparse.Namespace) -> list[BenchResult]:
    names = args.only or list(DEFAULT)
    url = pg.postgres_url()
    info = await machine.describe(url)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[BenchResult] = []
    kept = _load(args.merge) if args.merge else []
    for name in names:
        job = _job(name, args, url, results)
        load = await machine.wait_quiet(args.quiet_load, 0 if args.quick else args.quiet_wait, name)
        began = time.monotonic()
        started = dt.datetime.now(dt.UTC).strftime("%H:%M UTC")
        produced = await job()
        for r in produced:
            r.started = r.started or started
            r.seconds = r.seconds or time.monotonic() - began
            if not r.load_at_start:
                r.load_at_start = [load]
        results.extend(produced)
        # Written after every group, so a failure later keeps what was measured.
        _write(args, info, date, _combined(results, kept))
    return _combined(results, kept)


ORDER = {"overhead": 1, "ceiling": 2, "ledger": 3, "erasure": 4, "memory": 5, "scaleout": 6}


def _combined(new: list[BenchResult], kept: list[BenchResult]) -> list[BenchResult]:
    fresh = {r.key for r in new}
    out = new + [r for r in kept if r.key not in fresh]
    return sorted(out, key=lambda r: ORDER.get(r.key, 9))


def _write(
    args: argparse.Namespace, info: dict[str, object], date: str, results: list[BenchResult]
) -> None:
    command = "python -m bench" + (" --quick" if args.quick else "")
    text = render(results, info, command=command, date=date, quick=args.quick)
    args.output.write_text(text, encoding="utf-8")
    log.info("wrote %s", args.output)
    if args.json:
        payload = {"machine": info, "date": date, "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")


def _load(path: Path) -> list[BenchResult]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for raw in data["results"]:
        result = BenchResult(raw["key"], raw["title"])
        result.setup, result.notes = raw["setup"], raw["notes"]
        result.load_at_start, result.started = raw["load_at_start"], raw["started"]
        result.seconds, result.extra = raw["seconds"], raw["extra"]
        result.metrics = [
            Metric(m["name"], m["unit"], m["values"], m["better"]) for m in raw["metrics"]
        ]
        result.verdicts = [Verdict(v["goal"], v["met"], v["sentence"]) for v in raw["verdicts"]]
        out.append(result)
    return out


def _job(
    name: str, args: argparse.Namespace, url: str | None, done: list[BenchResult]
) -> Callable[[], Awaitable[list[BenchResult]]]:
    if name == "ceiling":
        from bench import ceiling  # noqa: PLC0415 - each benchmark imports what it needs

        size = ceiling.QUICK if args.quick else ceiling.FULL
        if args.runs:
            size = ceiling.Size(**{**asdict(size), "runs": args.runs})

        async def go() -> list[BenchResult]:
            return [await ceiling.run(size, url, args.profile)]

        return go
    if name == "ledger":
        from bench import ledger_data, ledger_scale  # noqa: PLC0415

        plan = ledger_scale.Plan(
            ledger_data.QUICK if args.quick else ledger_data.FULL,
            runs=args.runs or (1 if args.quick else 5),
            queries=20 if args.quick else 200,
        )

        async def go_ledger() -> list[BenchResult]:
            return [await ledger_scale.run(plan, url)]

        return go_ledger
    if name == "scaleout":
        from bench import scaleout  # noqa: PLC0415

        spread = scaleout.QUICK if args.quick else scaleout.FULL
        if args.runs:
            spread = scaleout.Plan(spread.size, args.runs)

        async def go_scaleout() -> list[BenchResult]:
            return [await scaleout.run(spread, url)]

        return go_scaleout
    if name in ("sandbox", "overhead"):

        async def go_sandbox() -> list[BenchResult]:
            ledger = next((r for r in done if r.key == "ledger"), None)
            return await sandbox(args, ledger, erasure=name == "sandbox")

        return go_sandbox
    raise ValueError(f"unknown benchmark {name}")


async def sandbox(
    args: argparse.Namespace, ledger: BenchResult | None, *, erasure: bool = True
) -> list[BenchResult]:
    """Benchmarks 1, 4 and 5 share one sandbox (three Synapses take a while to start)."""
    from bench import erasure_fanout, memory, overhead  # noqa: PLC0415
    from bench.rss import RssSampler  # noqa: PLC0415
    from bench.sandbox_stack import SandboxStack  # noqa: PLC0415

    quick = args.quick
    over = overhead.QUICK if quick else overhead.FULL
    erase = erasure_fanout.QUICK if quick else erasure_fanout.FULL
    if args.runs:
        over = overhead.Size(over.pairs, args.runs)
        erase = erasure_fanout.Size(erase.items, args.runs)
    stack = SandboxStack(rooms_wanted=2 if quick else 4)
    await stack.start()
    sampler = RssSampler(stack.bridge_pid)
    try:
        sampler.phase = "settle"
        sampler.start()
        await asyncio.sleep(2.0 if quick else 10.0)
        sampler.phase = "idle"
        await asyncio.sleep(2.0 if quick else 10.0)
        wait = 0 if quick else args.quiet_wait
        load = await machine.wait_quiet(args.quiet_load, wait, "overhead")
        sampler.phase = "overhead"
        began = time.monotonic()
        first = await overhead.run(stack, over, [load])
        first.seconds = time.monotonic() - began
        sampler.phase = "between"
        if not erasure:
            return [first]
        load = await machine.wait_quiet(args.quiet_load, wait, "erasure")
        began = time.monotonic()
        fourth = await erasure_fanout.run(stack, erase, sampler, [load])
        fourth.seconds = time.monotonic() - began
    finally:
        await sampler.stop()
        await stack.stop()
    return [first, fourth, memory.build(sampler, fourth, ledger)]
