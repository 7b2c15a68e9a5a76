"""Renders BENCHMARKS.md from the results of one ``python -m bench`` run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.findings import NOTES, WHY
from bench.results import BenchResult, Metric

HEADER = """# Benchmarks

Measured by `{command}` (see README, *Benchmarks*). Every figure is the median of
{runs_phrase} with its spread (min–max); ratios are computed within each run and then
summarised, never across runs. Rerun the command to refresh this file.
"""


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _metric_row(m: Metric) -> str:
    spread = f"{_fmt(m.low)} – {_fmt(m.high)}" if len(m.values) > 1 else "–"
    return f"| {m.name} | {_fmt(m.median)} {m.unit} | {spread} | {len(m.values)} |"


def _verdict_word(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "**not measured**"}[met]


def render(
    results: Sequence[BenchResult],
    machine: dict[str, Any],
    *,
    command: str,
    date: str,
    quick: bool,
) -> str:
    runs = sorted({len(m.values) for r in results for m in r.metrics if m.values})
    runs_phrase = (
        "runs" if not runs else f"{runs[0]}–{runs[-1]} runs" if len(runs) > 1 else f"{runs[0]} runs"
    )
    out = [HEADER.format(command=command, runs_phrase=runs_phrase)]
    if quick:
        out.append("> **Quick sizes** (`--quick`): a smoke run, not a measurement.\n")
    out.append("## Machine\n")
    out.append(f"- date: {date}")
    out.append(
        f"- CPU: {machine.get('cpu')} ({machine.get('cores')} cores), "
        f"RAM {machine.get('ram_gib')} GiB, Linux {machine.get('kernel')}"
    )
    out.append(
        f"- Python {machine.get('python')}, SQLite {machine.get('sqlite')}, "
        f"PostgreSQL {machine.get('postgresql')}, Synapse {machine.get('synapse')}, "
        f"mautrix {machine.get('mautrix')}, aiohttp {machine.get('aiohttp')}, "
        f"SQLAlchemy {machine.get('sqlalchemy')}"
    )
    out.append("")
    out.append("## Goals at a glance\n")
    out.append("| benchmark | goal | verdict | figures |")
    out.append("| --- | --- | --- | --- |")
    for r in results:
        for v in r.verdicts:
            out.append(f"| {r.title} | {v.goal} | {_verdict_word(v.met)} | {v.sentence} |")
    out.append("")
    for r in results:
        out.append(f"## {r.title}\n")
        if r.started:
            loads = ", ".join(f"{x:.2f}" for x in r.load_at_start)
            out.append(
                f"Started {r.started}, took {r.seconds / 60:.1f} min; 1-minute load average "
                f"at the start of each run: {loads or '–'}.\n"
            )
        if r.setup:
            out.append("How:\n")
            out.extend(f"- {line}" for line in r.setup)
            out.append("")
        if r.metrics:
            out.append("| figure | median | spread (min – max) | runs |")
            out.append("| --- | --- | --- | --- |")
            out.extend(_metric_row(m) for m in r.metrics)
            out.append("")
        for v in r.verdicts:
            out.append(f"- Goal *{v.goal}*: {_verdict_word(v.met)}. {v.sentence}.")
            if v.met is False and v.goal in WHY:
                out.append(f"  Why: {WHY[v.goal]}")
        if r.verdicts:
            out.append("")
        for note in [*r.notes, *NOTES.get(r.key, [])]:
            out.append(f"{note}\n")
    return "\n".join(out).rstrip() + "\n"
