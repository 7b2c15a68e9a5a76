"""Every typed action kind's payloads and results as older versions stored them, read
as their classes and written back byte for byte (the cases live beside each package's
other action tests: test_relay_actions.py, test_erasure_actions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.foundation import test_erasure_actions as erasure
from tests.foundation import test_relay_actions as relay
from tests.foundation.action_cases import (
    old_payload_round_trips,
    old_result_round_trips,
    older_payload_runs,
)

CASES = relay.CASES + erasure.CASES
OLDER = relay.OLDER + erasure.OLDER
RESULTS = relay.RESULTS + erasure.RESULTS


@pytest.mark.parametrize(("kind", "old", "value"), CASES, ids=[c[0] for c in CASES])
def test_an_old_payload_reads_as_its_class_and_is_written_again_unchanged(
    kind: str, old: dict[str, Any], value: object
) -> None:
    old_payload_round_trips(kind, old, value)


@pytest.mark.parametrize(("kind", "old", "value"), OLDER, ids=[c[0] for c in OLDER])
def test_a_payload_with_fewer_keys_from_an_older_version_still_runs(
    kind: str, old: dict[str, Any], value: object
) -> None:
    older_payload_runs(kind, old, value)


@pytest.mark.parametrize(("old", "cls", "value"), RESULTS, ids=[str(r[0]) for r in RESULTS])
def test_an_old_result_reads_as_its_class_and_is_stored_again_unchanged(
    old: dict[str, Any], cls: type, value: object
) -> None:
    old_result_round_trips(old, cls, value)
