"""What a benchmark hands the report: figures per run, same-run ratios, goal verdicts."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Metric:
    """One figure measured once per run; the report shows its median and spread."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    # "lower" or "higher" is better; only used to phrase the spread.
    better: str = "lower"

    def add(self, value: float) -> None:
        self.values.append(float(value))

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def low(self) -> float:
        return min(self.values) if self.values else math.nan

    @property
    def high(self) -> float:
        return max(self.values) if self.values else math.nan

    def well_formed(self) -> bool:
        return bool(self.values) and all(math.isfinite(v) and v >= 0 for v in self.values)


@dataclass(frozen=True)
class Verdict:
    """One goal of the issue: met (True), missed (False) or not measured (None), and why."""

    goal: str
    met: bool | None
    sentence: str


@dataclass
class BenchResult:
    key: str  # the --only name
    title: str
    setup: list[str] = field(default_factory=list)  # how it was measured, one line each
    metrics: list[Metric] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load_at_start: list[float] = field(default_factory=list)  # 1-min load average per run
    started: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str, unit: str, better: str = "lower") -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        m = Metric(name, unit, better=better)
        self.metrics.append(m)
        return m

    def get(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
