"""The benchmark suite (project issue 11): ``python -m bench`` writes BENCHMARKS.md."""
