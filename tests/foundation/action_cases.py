"""The round trips every typed action kind's cases go through (test_relay_actions.py,
test_erasure_actions.py): a payload or result as an older version stored it reads as its
class, and is written back byte for byte."""

from __future__ import annotations

import json
from typing import Any

from bridge.pipeline.actions import KINDS, converter, new_action, typed
from bridge.storage.outbox import Action


def old_payload_round_trips(kind: str, old: dict[str, Any], value: object) -> None:
    run = typed(Action(1, "k", kind, "q", old, 0), KINDS[kind])
    assert run.payload == value
    queued = new_action(value, key="k", queue="q")
    stored = json.loads(json.dumps(queued.payload))  # as the outbox row holds it
    assert (queued.kind, stored) == (kind, old)


def older_payload_runs(kind: str, old: dict[str, Any], value: object) -> None:
    assert typed(Action(1, "k", kind, "q", old, 0), KINDS[kind]).payload == value


def old_result_round_trips(old: dict[str, Any], cls: type, value: object) -> None:
    assert converter.structure(old, cls) == value
    assert json.loads(json.dumps(converter.unstructure(value))) == old
