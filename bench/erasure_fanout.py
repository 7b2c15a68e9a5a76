"""Benchmark 4: an erasure's fan-out against the real homeservers, against the raw
redaction rate of the same Synapse and its admin bulk-redact API, in the same run."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import text

from bench.results import BenchResult, Verdict
from bench.rss import RssSampler
from bench.sandbox_stack import BridgedRoom, SandboxStack, txn_id
from bridge.config import Config
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_model import Requester, RequesterSide
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.privacy.subjects import Subject

log = logging.getLogger(__name__)

OFFICER = Requester("benchmark", RequesterSide.ADMIN)
DEADLINE_S = 900.0
# Per room while generating; Synapse prunes beyond ~100 (docs/synapse-notes.md, Bursts).
SEND_IN_FLIGHT = 8


@dataclass(frozen=True)
class Size:
    items: int
    runs: int


FULL = Size(items=2000, runs=5)
QUICK = Size(items=20, runs=1)


async def _bounded(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"{what} not finished within {DEADLINE_S:.0f} s")


# -- items through the bridge ------------------------------------------------------------


async def bridged_items(stack: SandboxStack, username: str, items: int) -> str:
    """A new Rocket.Chat user posts ``items`` messages spread over the bridged rooms; returns
    their Rocket.Chat user id once the ledger has recorded every one (all sent to hs1)."""
    person = await stack.rc_person(username)
    per_room = _split(items, len(stack.rooms))
    try:
        # One post at a time, round-robin over the rooms: the bridge sends one message at a
        # time per room anyway, and Synapse prunes big per-room bursts (docs/synapse-notes.md,
        # Bursts).
        for i in range(max(per_room)):
            for room, count in zip(stack.rooms, per_room, strict=True):
                if i < count:
                    await person.client.post_message(room.rc_room_id, f"{username} item {i}")
    finally:
        await person.client.close()
    assert stack.db is not None
    queries = LedgerQueries(stack.db)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            subject = await queries.find_subject(person.user_id)
            recorded = await _count(queries, subject)
        except SubjectNotFoundError:
            recorded = 0
        if recorded >= items:
            return person.user_id
        await _bounded(deadline, "bridging the items")
        await asyncio.sleep(1.0)


async def _count(queries: LedgerQueries, subject: Subject) -> int:
    total, cursor = 0, None
    while True:
        page = await queries.erasure_plan(subject, after=cursor, limit=1000)
        total += len([i for i in page.items if i.event_id])
        cursor = page.next
        if cursor is None:
            return total


def _split(items: int, parts: int) -> list[int]:
    return [items // parts + (1 if i < items % parts else 0) for i in range(parts)]


async def engine_erasure(
    stack: SandboxStack, config: Config, rc_user_id: str
) -> tuple[float, float, int]:
    """(seconds until the last Matrix redaction was sent, seconds until the request
    finished, items) for an erasure run by the bridge process's own engine.

    Both times come from the bridge's own records (the request's ``received_ms``, the
    outbox's ``done_ms`` of its redactions, ``finished_ms``): computing the full status
    of a 2,000-item request every half second from here lagged by seconds and cost CPU
    the homeservers needed.
    """
    assert stack.db is not None
    engine = ErasureEngine(stack.db, erasure_settings(config))
    request = await engine.request(rc_user_id, OFFICER, None, verified=True)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        async with stack.db.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT received_ms, finished_ms, state FROM erasure_request WHERE id = :id"
                    ),
                    {"id": request},
                )
            ).one()
        if row.finished_ms is not None:
            break
        await _bounded(deadline, "the erasure")
        await asyncio.sleep(2.0)
    status = await engine.status(request)
    if status.state.value != "done":
        log.warning("erasure %s ended %s: %s", request, status.state, status.matrix)
    async with stack.db.sessions() as session:
        last = await session.scalar(
            text(
                "SELECT MAX(done_ms) FROM outbox WHERE kind = 'erasure.redact' "
                "AND status = 'done' AND key LIKE :prefix"
            ),
            {"prefix": f"erasure:{request}:%"},
        )
    done_s = (row.finished_ms - row.received_ms) / 1000
    redacted_s = (int(last) - row.received_ms) / 1000 if last is not None else done_s
    return redacted_s, done_s, status.items


# -- the comparison points -----------------------------------------------------------------


async def direct_items(stack: SandboxStack, ghost: str, items: int) -> dict[str, list[str]]:
    """``items`` messages sent by ``ghost`` straight through the appservice API."""
    per_room = _split(items, len(stack.rooms))
    events: dict[str, list[str]] = {}

    async def fill(room: BridgedRoom, count: int) -> None:
        sem = asyncio.Semaphore(SEND_IN_FLIGHT)
        ids: list[str] = []

        async def one(i: int) -> None:
            async with sem:
                answer = await stack.as_request(
                    "PUT",
                    f"/rooms/{room.matrix_room_id}/send/m.room.message/{txn_id()}",
                    {"msgtype": "m.text", "body": f"direct item {i}"},
                    as_user=ghost,
                )
                ids.append(answer["event_id"])

        await asyncio.gather(*(one(i) for i in range(count)))
        events[room.matrix_room_id] = ids

    await asyncio.gather(*(fill(r, n) for r, n in zip(stack.rooms, per_room, strict=True)))
    return events


async def raw_redactions(stack: SandboxStack, ghost: str, events: dict[str, list[str]]) -> float:
    """The same redactions the engine makes, straight through the appservice API: as the
    sender, one at a time per room, rooms in parallel (the engine's own pacing)."""

    async def room_loop(room_id: str, ids: list[str]) -> None:
        for event_id in ids:
            await stack.as_request(
                "PUT",
                f"/rooms/{room_id}/redact/{event_id}/{txn_id()}",
                {"reason": "benchmark"},
                as_user=ghost,
            )

    began = time.monotonic()
    await asyncio.gather(*(room_loop(r, ids) for r, ids in events.items()))
    return time.monotonic() - began


async def admin_redaction(stack: SandboxStack, ghost: str) -> float:
    """Synapse's admin bulk redact of every event of ``ghost``, until its status is complete."""
    began = time.monotonic()
    answer = await stack.admin_request(
        "POST", f"/_synapse/admin/v1/user/{ghost}/redact", {"rooms": [], "reason": "benchmark"}
    )
    redact_id = answer["redact_id"]
    deadline = began + DEADLINE_S
    while True:
        status = await stack.admin_request(
            "GET", f"/_synapse/admin/v1/user/redact_status/{redact_id}"
        )
        if status.get("status") == "complete":
            if status.get("failed_redactions"):
                log.warning("admin redact failures: %s", status["failed_redactions"])
            return time.monotonic() - began
        if status.get("status") == "failed":
            raise RuntimeError(f"admin redact failed: {status}")
        await _bounded(deadline, "the admin redaction")
        await asyncio.sleep(0.1)


# -- the benchmark -------------------------------------------------------------------------


async def run(
    stack: SandboxStack, size: Size, sampler: RssSampler, loads: list[float]
) -> BenchResult:
    assert stack.config is not None
    result = BenchResult("erasure", "4. Erasure fan-out")
    rss_after: list[float] = []
    for run_no in range(size.runs):
        sampler.phase = "erasure"
        mark = time.monotonic()
        rc_user = await bridged_items(stack, f"erasee{run_no}", size.items)
        log.info("items bridged in %.1f s", time.monotonic() - mark)
        redacted_s, done_s, items = await engine_erasure(stack, stack.config, rc_user)
        log.info(
            "engine: redactions sent in %.1f s, request finished in %.1f s", redacted_s, done_s
        )
        mark = time.monotonic()
        raw_ghost = await stack.register_ghost(f"benchraw{run_no}")
        raw_events = await direct_items(stack, raw_ghost, size.items)
        log.info("raw items sent in %.1f s", time.monotonic() - mark)
        raw_s = await raw_redactions(stack, raw_ghost, raw_events)
        mark = time.monotonic()
        admin_ghost = await stack.register_ghost(f"benchadmin{run_no}")
        await direct_items(stack, admin_ghost, size.items)
        log.info("admin items sent in %.1f s", time.monotonic() - mark)
        admin_s = await admin_redaction(stack, admin_ghost)
        engine_rate = items / redacted_s
        raw_rate = size.items / raw_s
        admin_rate = size.items / admin_s
        result.metric("engine: items to last redaction sent", "items/s", "higher").add(engine_rate)
        result.metric("engine: items to request finished", "items/s", "higher").add(items / done_s)
        result.metric("raw redactions, appservice API", "redactions/s", "higher").add(raw_rate)
        result.metric("admin bulk redact API", "redactions/s", "higher").add(admin_rate)
        result.metric("ratio engine / raw (same run)", "×", "higher").add(engine_rate / raw_rate)
        result.metric("ratio admin bulk / raw (same run)", "×", "higher").add(admin_rate / raw_rate)
        sampler.phase = "between"
        await asyncio.sleep(2.0)
        rss_after.append(sampler.samples[-1][1] if sampler.samples else float("nan"))
        log.info(
            "erasure run %d/%d: engine %.1f/s raw %.1f/s admin %.1f/s",
            run_no + 1,
            size.runs,
            engine_rate,
            raw_rate,
            admin_rate,
        )
    result.extra["rss_after_run_mib"] = rss_after
    result.load_at_start = loads
    rooms = len(stack.rooms)
    result.setup = [
        f"the sandbox of benchmark 1 with {rooms} bridged rooms, each joined by a user of hs2 "
        "and of hs3 (three servers per room)",
        f"engine: per run a new Rocket.Chat user posts {size.items:,} messages spread over the "
        f"{rooms} rooms, bridged to hs1 (untimed); then an erasure request for that person "
        "(verified, self-service) is handed to the running bridge's engine; timed by the "
        "bridge's own records from the request's `received_ms` to the `done_ms` of its last "
        "Matrix redaction (and, separately, to the request's `finished_ms`: Rocket.Chat "
        "deletes, ghost scrub, notices and delivery evidence included)",
        f"raw: in the same run a fresh ghost sends {size.items:,} messages into the same rooms "
        "(untimed), then they are redacted straight through hs1's appservice API as their "
        "sender, one at a time per room and rooms in parallel: the engine's own pacing "
        "(one outbox action per room queue; docs/synapse-notes.md, Bursts)",
        f"admin bulk: another fresh ghost's {size.items:,} messages (untimed), then "
        "`POST /_synapse/admin/v1/user/<ghost>/redact` with `rooms: []`, timed until "
        "`redact_status` says complete (it also redacts the ghost's joins). The engine does "
        "not use this API (it redacts item by item, so each item's status is observed)",
        f"{size.runs} runs; ratios per run",
    ]
    ratio = result.get("ratio engine / raw (same run)")
    engine = result.get("engine: items to last redaction sent").median
    result.verdicts.append(
        Verdict(
            "erasure items/s ≥ 0.9× the raw redaction rate",
            ratio.median >= 0.9,
            f"median ratio {ratio.median:.2f} (runs {ratio.low:.2f}–{ratio.high:.2f}): engine "
            f"{engine:.1f} items/s, raw "
            f"{result.get('raw redactions, appservice API').median:.1f}/s, admin bulk "
            f"{result.get('admin bulk redact API').median:.1f}/s",
        )
    )
    return result
