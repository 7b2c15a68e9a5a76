"""Benchmark 5: the bridge's resident memory, idle and while benchmarks 3 and 4 run."""

from __future__ import annotations

from typing import Any

from bench.results import BenchResult, Verdict
from bench.rss import RssSampler

LIMIT_MIB = 200.0
FLAT_MIB = 15.0  # growth from the first to the last erasure run still called flat


def build(
    sampler: RssSampler, erasure: BenchResult | None, ledger: BenchResult | None
) -> BenchResult:
    result = BenchResult("memory", "5. Memory")
    idle = sampler.of("idle")
    if idle:
        result.metric("bridge process, idle (after start-up, before any load)", "MiB").add(
            max(idle)
        )
    overhead = sampler.of("overhead")
    if overhead:
        result.metric("bridge process, peak during benchmark 1", "MiB").add(max(overhead))
    busy = sampler.of("erasure")
    if busy:
        result.metric("bridge process, peak during benchmark 4", "MiB").add(max(busy))
    after = erasure.extra.get("rss_after_run_mib", []) if erasure else []
    rss_after = result.metric("bridge process, after each erasure run", "MiB")
    for value in after:
        rss_after.add(value)
    probe: dict[str, Any] = ledger.extra.get("memory", {}) if ledger else {}
    for name, figures in probe.items():
        result.metric(f"ledger queries on 10M rows, {name}: process idle", "MiB").add(
            figures["idle_mib"]
        )
        result.metric(f"ledger queries on 10M rows, {name}: peak", "MiB").add(figures["peak_mib"])
    result.setup = [
        "resident set size (VmRSS from /proc/<pid>/status) sampled every 0.2 s from outside",
        "benchmarks 1 and 4: the bridge runs as its own process (`python -m bridge run`); "
        "idle is measured for 10 s after start-up and portal set-up, before any message",
        "benchmark 3: the ledger queries run through the bridge's `LedgerQueries` in a child "
        "process of their own (`python -m bench.ledger_probe`, which imports the bridge "
        "and nothing else of note); idle is that process after connecting, peak is during "
        "all its queries and erasure plans",
    ]
    peaks = [m.high for m in result.metrics if m.values]
    peak = max(peaks) if peaks else float("nan")
    growth = (after[-1] - after[0]) if len(after) >= 2 else 0.0
    result.verdicts.append(
        Verdict(
            f"flat, under {LIMIT_MIB:.0f} MB",
            bool(peaks) and peak < LIMIT_MIB and growth < FLAT_MIB,
            f"highest RSS seen {peak:.0f} MiB; the bridge's RSS after the first and last "
            f"erasure run differs by {growth:+.1f} MiB"
            + ("" if ledger else "; benchmark 3 was not run in this invocation"),
        )
    )
    return result
