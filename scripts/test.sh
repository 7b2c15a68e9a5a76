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

# The dashboard's browser tests drive Debian's Chromium through Playwright (which never
# downloads a browser of its own here). CI runs as root on a fresh machine: install it.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

.venv/bin/ruff format --check bridge tests bench
.venv/bin/ruff check bridge tests bench
.venv/bin/mypy
# The layer contracts of pyproject.toml [tool.importlinter] (docs/architecture.md).
.venv/bin/lint-imports --no-logo --no-cache

exec .venv/bin/pytest "$@"
