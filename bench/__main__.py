"""``python -m bench [--quick] [--only NAME ...] [--output BENCHMARKS.md]``."""

from bench.run import main

raise SystemExit(main())
