"""Shared test configuration.

Fixture modules live in ``tests/fixtures/`` and are registered here, so every test
directory sees the same homeservers, simulator and databases.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins: list[str] = [
    "tests.fixtures.databases",
    "tests.fixtures.bridge_config",
    "tests.fixtures.homeservers",
    "tests.fixtures.rocketchat",
    "tests.fixtures.bridge_stack",
]

# Hypothesis profiles (tests/hostile/README.md): "ci" is bounded and derandomised, the
# default wherever the suite runs; HYPOTHESIS_PROFILE=thorough explores far more inputs.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
