#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything the tests need into .venv,
# then runs format, lint, type checks and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=24"
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff format --check bridge tests
.venv/bin/ruff check bridge tests
.venv/bin/mypy

exec .venv/bin/pytest "$@"
