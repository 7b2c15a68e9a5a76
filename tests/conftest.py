"""Shared test configuration.

Fixture modules live in ``tests/fixtures/`` and are registered here, so every test
directory sees the same homeservers, simulator and databases.
"""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.fixtures.homeservers"]
