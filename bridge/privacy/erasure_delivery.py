"""Delivery evidence: has our homeserver delivered the redactions to each remote server?

Synapse tells, per destination server, the stream ordering up to which everything was
delivered, and per room the ordering of what it queued for that server there
(docs/synapse-notes.md). The Matrix connector reads that once per ``erasure.delivery``
action and returns what it saw; this module, which owns the erasure state, decides
the rest:

- when: a server's first check is queued once the redactions in all its rooms have
  settled (done or given up), from the hook that settles the last of them, under the
  request-row lock of ``bridge.privacy.erasure_sequence``; at plan time for a server
  whose rooms have nothing to redact;
- what it means: "delivered" per room, or "redaction sent" (awaiting delivery, or a
  failure while our homeserver cannot reach the server);
- whether to look again: a server still behind is checked again as a new action (the
  next check counts up in its key, so a repeated hook queues it once), 2 s later and
  then twice as long each time up to 30 s, until it caught up or the deadline passed;
  then the rooms it did not confirm keep "redaction sent" and say why. Most servers
  catch up within seconds; one that stays behind for the whole hour costs about 125
  checks, not the 1,800 a fixed 2 s would.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import attrs

from bridge.pipeline import keys
from bridge.pipeline.actions import new_action
from bridge.pipeline.backoff import Backoff
from bridge.privacy import report as words
from bridge.privacy.erasure_inputs import Completer, request_of
from bridge.privacy.erasure_kinds import Delivery, DeliveryObserved
from bridge.privacy.erasure_sequence import MATRIX_CLOSED
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import ErasureStore
from bridge.storage.outbox import NewAction

STEP = "delivery_evidence"  # a step row only when not possible (no admin token)
# How long delivery is watched before leaving "redaction sent" as it is.
TIMEOUT_MS = 3_600_000
CHECK_INTERVAL_MS = 2_000
# The wait before check n+1: the first interval, doubling, at most 30 s (no jitter: one
# server's checks are one queue, nothing to spread).
CHECKS = Backoff(CHECK_INTERVAL_MS / 1000, 30.0, jitter=False)
# A room row never moves back from these (evidence only ever accumulates).
ROOM_KEEP = (words.DELIVERED, words.LEFT_ROOM)
UNCONFIRMED = "the homeserver did not report delivery before the polling timeout"


async def _rooms_by_server(uow: UnitOfWork, request_id: str) -> dict[str, list[str]]:
    """The rooms each remote server was in when the plan was made (its redactions go
    there over federation)."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in await uow.erasure.recipients(request_id):
        if r.reach == "in_room" and r.room_id is not None:
            out[r.recipient].add(r.room_id)
    return {server: sorted(rooms) for server, rooms in out.items()}


async def first_checks(
    uow: UnitOfWork, request_id: str, *, room_id: str | None = None
) -> list[NewAction]:
    """The first check of each server (in ``room_id``, if given) whose rooms have no
    redaction left to settle. None when delivery cannot be read (no admin token: the
    plan wrote the step as not possible)."""
    steps = await uow.erasure.steps(request_id)
    if any(s.step == STEP and s.status == words.NOT_POSSIBLE for s in steps):
        return []
    servers = await _rooms_by_server(uow, request_id)
    if room_id is not None:
        servers = {s: rooms for s, rooms in servers.items() if room_id in rooms}
    rooms = sorted({room for rooms in servers.values() for room in rooms})
    busy = await uow.erasure.open_rooms(request_id, MATRIX_CLOSED, rooms)
    deadline = now_ms() + TIMEOUT_MS
    return [
        new_action(
            Delivery(request_id, server, deadline, tuple(rooms)),
            key=keys.erasure_delivery_key(request_id, server),
            queue=keys.erasure_delivery_queue(request_id, server),
        )
        for server, rooms in sorted(servers.items())
        if busy.isdisjoint(rooms)
    ]


async def room_settled(uow: UnitOfWork, request_id: str, room_id: str) -> None:
    """Every Matrix copy in ``room_id`` settled: the servers there whose other rooms are
    settled too get their first check. The request row is locked first, so of several
    processes settling a server's last rooms at once the last to commit queues it."""
    await uow.erasure.request(request_id, lock=True)
    for action in await first_checks(uow, request_id, room_id=room_id):
        await uow.enqueue(action)


async def observed(uow: UnitOfWork, payload: Delivery, result: DeliveryObserved) -> None:
    """The done hook of a check: record what it saw, then check again or finish."""
    rid, server = payload.request_id, payload.server
    await record(uow.erasure, rid, server, result)
    unconfirmed = result.unconfirmed  # an older version's result, at its deadline
    if result.pending:
        if now_ms() <= payload.deadline_ms:
            if await uow.erasure.request(rid) is not None:
                await uow.enqueue(next_check(payload, result.pending))
            return
        unconfirmed += result.pending
    for room in unconfirmed:
        await uow.erasure.set_recipient(
            rid, server, room, words.REDACTION_SENT, UNCONFIRMED, unless=ROOM_KEEP
        )


async def record(store: ErasureStore, rid: str, server: str, result: DeliveryObserved) -> None:
    """Each check's view at once, so the status shows it while the checks go on."""
    for room in result.delivered:
        await store.set_recipient(rid, server, room, words.DELIVERED)
    for room in result.pending:
        if result.failure_ts:
            since = dt.datetime.fromtimestamp(result.failure_ts / 1000, tz=dt.UTC)
            status = words.failed(
                f"our homeserver reports {server} unreachable since "
                f"{since.strftime('%H:%M:%S')} UTC"
            )
            detail = "redaction sent; delivery retrying"
        else:
            status, detail = words.REDACTION_SENT, "awaiting delivery"
        await store.set_recipient(rid, server, room, status, detail, unless=ROOM_KEEP)


def next_check(payload: Delivery, pending: tuple[str, ...]) -> NewAction:
    """The same server's next check, of the rooms still pending (see :data:`CHECKS`)."""
    rid, server, n = payload.request_id, payload.server, payload.check + 1
    return new_action(
        attrs.evolve(payload, rooms=pending, check=n),
        key=keys.erasure_delivery_check_key(rid, server, n),
        queue=keys.erasure_delivery_queue(rid, server),
        not_before_ms=now_ms() + int(CHECKS.ceiling(n) * 1000),
    )


async def waits(uow: UnitOfWork, payload: Delivery) -> bool:
    """A check an older version queued with the plan, before its rooms' redactions
    settled, waits for them (a new one is queued only once they have)."""
    if payload.rooms is not None:
        return False
    rooms = (await _rooms_by_server(uow, payload.request_id)).get(payload.server, [])
    return bool(await uow.erasure.open_rooms(payload.request_id, MATRIX_CLOSED, rooms))


async def _complete(uow: UnitOfWork, payload: Delivery) -> Delivery:
    await request_of(uow, payload.request_id)  # gone: fails for good
    rooms = (await _rooms_by_server(uow, payload.request_id)).get(payload.server, [])
    return attrs.evolve(payload, rooms=tuple(rooms))


# A row an older version queued names no rooms: they are the server's in the plan.
COMPLETER: Completer[Delivery] = Completer(lambda p: p.rooms is None, _complete)
