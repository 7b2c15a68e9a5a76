"""Benchmark 1: latency Rocket.Chat → bridge → hs1 → hs2, against the same message sent
straight through the appservice API to hs1, both observed in a hs2 user's /sync."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bench import machine
from bench.observer import SyncObserver
from bench.results import BenchResult, Verdict, percentile
from bench.sandbox_stack import SandboxStack, stage_times, txn_id

log = logging.getLogger(__name__)

ARRIVAL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Size:
    pairs: int
    runs: int


FULL = Size(pairs=60, runs=5)
QUICK = Size(pairs=5, runs=1)


async def run(stack: SandboxStack, size: Size, loads: list[float]) -> BenchResult:
    result = BenchResult("overhead", "1. Overhead")
    room = stack.rooms[0]
    alice = await stack.rc_person("alice")
    observer = SyncObserver(stack.remote_users[0])  # carol, on hs2
    await observer.start()
    try:
        # Warm-up (untimed): the ghost is registered and joins the room on its first message.
        arrival = observer.expect("warm-up")
        await alice.client.post_message(room.rc_room_id, "warm-up")
        await asyncio.wait_for(arrival, 60)
        ghost = stack.ghost_id(alice.username)
        for run_no in range(size.runs):
            bridged: list[float] = []
            direct: list[float] = []
            timed: list[Timed] = []
            cpu = machine.CpuMeter(stack.bridge_pid)
            for i in range(size.pairs):
                for path in ("bridged", "direct") if i % 2 == 0 else ("direct", "bridged"):
                    text = f"overhead {run_no} {i} via {path} path"
                    arrival = observer.expect(text)
                    began = time.perf_counter()
                    if path == "bridged":
                        posted = await alice.client.post_message(room.rc_room_id, text)
                    else:
                        await stack.as_request(
                            "PUT",
                            f"/rooms/{room.matrix_room_id}/send/m.room.message/{txn_id()}",
                            {"msgtype": "m.text", "body": text},
                            as_user=ghost,
                        )
                    arrived = await asyncio.wait_for(arrival, ARRIVAL_TIMEOUT_S)
                    (bridged if path == "bridged" else direct).append((arrived - began) * 1000)
                    if path == "bridged":
                        timed.append(Timed(posted.id, began, arrived))
            _add_run(result, bridged, direct)
            _add_stages(result, timed, stage_times(stack.bridge_log))
            cpu.add_to(result, "bridge process")
            log.info("overhead run %d/%d done", run_no + 1, size.runs)
    finally:
        await observer.stop()
        await alice.client.close()
    result.load_at_start = loads
    result.setup = [
        "three Synapse homeservers federating over loopback TLS, the Rocket.Chat simulator "
        "and the bridge as `python -m bridge run` (SQLite), all on this machine",
        "bridged: a Rocket.Chat user posts with `chat.postMessage`; the bridge relays it to "
        "hs1 as the user's ghost; timed until the message shows in the `/sync` of a hs2 "
        "user (a 30-s long poll kept open all the time)",
        "direct: the same kind of message sent by the same ghost into the same room "
        "through the appservice API of hs1 (`PUT …/send` with `user_id=`), observed the same way",
        f"{size.pairs} pairs per run, one message at a time, alternating which path goes "
        f"first; {size.runs} runs; ratios per run",
    ]
    p50, p99 = result.get("ratio p50 (same run)"), result.get("ratio p99 (same run)")
    result.verdicts.append(
        Verdict(
            "ratio ≤ 1.10 (bridged / direct)",
            p50.median <= 1.10 and p99.median <= 1.10,
            f"p50 ratio {p50.median:.2f} (runs {p50.low:.2f}–{p50.high:.2f}), p99 ratio "
            f"{p99.median:.2f}; the bridge adds "
            f"{result.get('bridged p50').median - result.get('direct p50').median:.0f} ms at p50"
            + _own_time(result),
        )
    )
    return result


@dataclass(frozen=True)
class Timed:
    message_id: str
    posted: float  # perf_counter (CLOCK_MONOTONIC) before chat.postMessage
    arrived: float  # seen in the hs2 user's /sync


# (label, from stage, to stage, whose time): "post" and "arrival" are the bench's own.
SPANS = (
    ("Rocket.Chat: post to the bridge's receipt", "post", "received", "Rocket.Chat"),
    ("bridge: receipt to inbox commit", "received", "stored", "bridge"),
    ("bridge: inbox commit to handler commit", "stored", "handled", "bridge"),
    ("bridge: handler commit to the PUT", "handled", "sending", "bridge"),
    ("hs1: the PUT", "sending", "sent", "hs1"),
    ("hs1 to the hs2 user's /sync", "sent", "arrival", "federation"),
    ("bridge's own: receipt to the PUT", "received", "sending", "bridge"),
)


def _add_stages(
    result: BenchResult, timed: list[Timed], stamps: dict[str, dict[str, float]]
) -> None:
    """Per-stage p50 and p99 of this run's bridged messages, from the bridge's stage trace
    (bridge.pipeline.stages) and the bench's own times, on one clock."""
    rows = []
    for t in timed:
        found = stamps.get(t.message_id)
        if found is not None:
            rows.append({**found, "post": t.posted, "arrival": t.arrived})
    result.metric("messages with a complete stage trace", "").add(len(rows))
    if not rows:
        return
    for label, start, end, _ in SPANS:
        spans = [(r[end] - r[start]) * 1000 for r in rows]
        result.metric(f"{label}, p50", "ms").add(max(percentile(spans, 50), 0.001))
        result.metric(f"{label}, p99", "ms").add(max(percentile(spans, 99), 0.001))


def _own_time(result: BenchResult) -> str:
    """The stage trace's answer to "which milliseconds are the bridge's"."""
    own50 = next((m for m in result.metrics if m.name == f"{SPANS[-1][0]}, p50"), None)
    own99 = next((m for m in result.metrics if m.name == f"{SPANS[-1][0]}, p99"), None)
    if own50 is None or own99 is None:
        return ""
    return (
        f"; of a bridged message's time, {own50.median:.1f} ms at p50 and {own99.median:.1f} "
        "ms at p99 are the bridge's own (its receipt on the realtime stream to its PUT to "
        "hs1), the rest is Rocket.Chat's hop, hs1's PUT and federation to hs2"
    )


def _add_run(result: BenchResult, bridged: list[float], direct: list[float]) -> None:
    b50, b99 = percentile(bridged, 50), percentile(bridged, 99)
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    result.metric("bridged p50", "ms").add(b50)
    result.metric("bridged p99", "ms").add(b99)
    result.metric("direct p50", "ms").add(d50)
    result.metric("direct p99", "ms").add(d99)
    result.metric("ratio p50 (same run)", "×").add(b50 / d50)
    result.metric("ratio p99 (same run)", "×").add(b99 / d99)
