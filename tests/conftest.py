"""Shared test configuration.

Fixture modules live in ``tests/fixtures/`` and are registered here, so every test
directory sees the same homeservers, simulator and databases.
"""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures.databases",
    "tests.fixtures.bridge_config",
    "tests.fixtures.homeservers",
    "tests.fixtures.rocketchat",
    "tests.fixtures.bridge_stack",
]
