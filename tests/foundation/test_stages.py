"""The relay's stage trace: which part of a message's way the bridge's own time went to."""

from __future__ import annotations

import logging

import pytest

from bridge.metrics import REGISTRY
from bridge.pipeline.stages import SPANS, STAGES, StageClock


def _count(span: str) -> float:
    value = REGISTRY.get_sample_value("bridge_relay_stage_seconds_count", {"span": span})
    return value or 0.0


def test_a_message_through_every_stage_is_reported_once_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.trace")
    clock = StageClock()
    before = {span: _count(span) for span in SPANS.values()}
    for stage in STAGES:
        clock.mark("rc:m1", stage)
        if stage == "sending":
            clock.mark("rc:m1", "stored")  # a second stamp of a stage keeps the first
    clock.mark("rc:m1", "sent")  # after the end: nothing more
    assert {span: _count(span) - before[span] for span in SPANS.values()} == dict.fromkeys(
        SPANS.values(), 1.0
    )
    (record,) = [r for r in caplog.records if r.name == "bridge.trace"]
    words = record.getMessage().split()
    assert words[:2] == ["relay", "rc:m1"]
    stamps = dict(w.split("=") for w in words[2:])
    assert list(stamps) == list(STAGES)
    times = [float(stamps[s]) for s in STAGES]
    assert times == sorted(times)


def test_a_message_not_received_here_or_never_sent_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.trace")
    clock = StageClock(remembered=2)
    for stage in STAGES[1:]:
        clock.mark("rc:caught-up", stage)  # no "received": caught up on, or another process's
    for key in ("rc:a", "rc:b", "rc:c"):  # "rc:a" is forgotten: only two are kept
        clock.mark(key, "received")
    for stage in STAGES[1:]:
        clock.mark("rc:a", stage)
    assert not [r for r in caplog.records if r.name == "bridge.trace"]
