"""The benchmark suite at tiny sizes, so it does not rot. No timing assertions: only that
every benchmark produced well-formed figures and the report renders."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_quick_size_and_the_report_renders(tmp_path: Path) -> None:
    report, figures = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    env = {
        **os.environ,
        "BRIDGE_BENCH_POSTGRES_URL": os.environ.get("BRIDGE_TEST_POSTGRES_URL", ""),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(report), "--json", str(figures)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads(figures.read_text())["results"]
    assert [r["key"] for r in results] == [
        "overhead",
        "ceiling",
        "ledger",
        "erasure",
        "memory",
        "scaleout",
    ]
    for result in results:
        assert result["metrics"], result["key"]
        for metric in result["metrics"]:
            assert metric["values"], (result["key"], metric["name"])
            assert all(math.isfinite(v) and v > 0 for v in metric["values"]), metric
        assert result["verdicts"], result["key"]
    text = report.read_text()
    for title in (
        "1. Overhead",
        "2. Bridge-only ceiling",
        "3. Ledger at scale",
        "4. Erasure fan-out",
        "5. Memory",
        "6. Scale-out",
        "## Machine",
        "Goals at a glance",
    ):
        assert title in text
