"""The benchmark suite: ``python -m bench`` writes BENCHMARKS.md."""
