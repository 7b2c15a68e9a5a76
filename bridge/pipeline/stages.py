"""Where a relayed message's time goes, stage by stage, in this process.

A Rocket.Chat message on its way to Matrix is stamped when it is

1. ``received`` on the realtime stream,
2. ``stored``: its inbox transaction committed (the intake),
3. ``handled``: its handler's transaction committed (the inbox worker),
4. ``sending``: its PUT to the homeserver begins (the outbox worker has picked the action
   up and the executor has its room and intent),
5. ``sent``: the homeserver answered the PUT.

The first three spans and the wait before the PUT are the bridge's own; the last is the
homeserver's. Each completed message adds its spans to ``bridge_relay_stage_seconds``
and, when the ``bridge.trace`` logger is enabled for DEBUG (``logging.trace: true``),
logs one record with the five monotonic times, so a benchmark on the same machine can put
its own observations (the post, the arrival on another server) on the same clock.

Only a message whose every stage ran in this process is reported: one caught up on after
a reconnect, or sent by another process, is not. Entries are kept for a bounded number of
messages in flight, so nothing grows without bound when a message never reaches the PUT
(an echo, a skipped event).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from prometheus_client import Histogram

from bridge.metrics import REGISTRY

log = logging.getLogger("bridge.trace")

STAGES = ("received", "stored", "handled", "sending", "sent")
# The span that ends at each stage, named for the metric's label.
SPANS = {
    "stored": "intake",
    "handled": "handler",
    "sending": "outbox_wait",
    "sent": "homeserver",
}
REMEMBERED = 10_000

RELAY_STAGE_SECONDS = Histogram(
    "bridge_relay_stage_seconds",
    "Rocket.Chat to Matrix: seconds in each stage (intake: received to inbox commit; "
    "handler: to the handler's commit; outbox_wait: to the PUT; homeserver: the PUT)",
    ["span"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=REGISTRY,
)


def rc_message(message_id: str) -> str:
    """The trace key of a Rocket.Chat message."""
    return f"rc:{message_id}"


class StageClock:
    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._open: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._remembered = remembered

    def mark(self, key: str, stage: str) -> None:
        """Stamp ``stage`` now. ``received`` opens an entry; a later stage of a key with
        no entry is ignored, and so is a stage stamped twice (a retried PUT keeps its
        first time, the one the message waited from)."""
        now = time.monotonic()
        if stage == STAGES[0]:
            self._open[key] = {stage: now}
            while len(self._open) > self._remembered:
                self._open.popitem(last=False)
            return
        times = self._open.get(key)
        if times is None or stage in times:
            return
        times[stage] = now
        if stage == STAGES[-1]:
            del self._open[key]
            self._report(key, times)

    @staticmethod
    def _report(key: str, times: dict[str, float]) -> None:
        if any(stage not in times for stage in STAGES):
            return
        for earlier, later in zip(STAGES, STAGES[1:], strict=False):
            RELAY_STAGE_SECONDS.labels(SPANS[later]).observe(times[later] - times[earlier])
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "relay %s %s", key, " ".join(f"{stage}={times[stage]:.6f}" for stage in STAGES)
            )


# One per process, like the metrics it feeds.
RELAY = StageClock()
