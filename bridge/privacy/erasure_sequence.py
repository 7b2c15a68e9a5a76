"""The order of an erasure's steps, kept by the privacy layer (docs/erasure.md).

A step that must come after others is queued when they settle, from the done or
dead-letter hook of the action that settles the last of them, instead of being queued
with the plan and polled until they have:

- the ghost's profile scrub after every redaction (a ghost that left a room could not
  redact its messages there), and the shadow's after every Rocket.Chat deletion;
- the notices to remote admins after the media step (they name the media deleted).
- a remote server's first delivery check after the redactions in all its rooms
  (``bridge.privacy.erasure_delivery``, under the same lock).

Each is queued with what its executor needs, read here when the step is due: the ghost
and its personas, the shadow's Matrix user, the notice's content
(``bridge.privacy.erasure_inputs_matrix``, ``bridge.privacy.erasure_inputs_rc``).

"Settled" is done, not needed, or given up for good (a dead letter will not be sent).
Several processes may settle a request's last items at once, each in its own
transaction: the request row is locked before the count, so the last of them to commit
sees every other one done and queues the step. A repeat queues nothing twice (the keys).
``erasure_hooks.sequenced`` keeps the same order for rows queued by an older version with
the plan: they wait until their predecessors settle.
"""

from __future__ import annotations

from bridge.pipeline import keys
from bridge.pipeline.actions import new_action
from bridge.privacy import erasure_inputs_matrix as inputs
from bridge.privacy import report as words
from bridge.privacy.erasure_kinds import GhostScrub, Notice, ShadowScrub
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM
from bridge.storage.outbox import NewAction

MATRIX_CLOSED = (words.REDACTION_SENT, words.NOT_NEEDED)
RC_CLOSED = (words.DELETED, words.HIDDEN, words.NOT_NEEDED)
GHOST, SHADOW, MEDIA = "ghost_profile", "shadow_profile", "media"


async def open_items(uow: UnitOfWork, request_id: str, side: str) -> int:
    closed = MATRIX_CLOSED if side == "matrix" else RC_CLOSED
    return await uow.erasure.count_open(request_id, side, closed, settled_failures=True)


async def pending_steps(uow: UnitOfWork, request_id: str) -> set[str]:
    return {s.step for s in await uow.erasure.steps(request_id) if s.status == words.PENDING}


def _step(value: GhostScrub | ShadowScrub) -> NewAction:
    return new_action(
        value,
        key=keys.erasure_step_key(value.request_id, value.step),
        queue=keys.erasure_request_queue(value.request_id),
    )


async def _scrub(uow: UnitOfWork, request_id: str, side: str) -> GhostScrub | ShadowScrub:
    """The profile scrub that waits for ``side``, with what its executor needs."""
    # A request that is gone makes a payload without what it names, which its completer
    # refuses (bridge.privacy.erasure_inputs_matrix, bridge.privacy.erasure_inputs_rc).
    request = await uow.erasure.request(request_id)
    if side == "matrix":
        if request is None:
            return GhostScrub(request_id, GHOST)
        return await inputs.ghost_scrub(uow, request, GHOST)
    # The shadow is found by its Matrix user.
    return ShadowScrub(request_id, SHADOW, request.subject_matrix_id if request else None)


async def side_settled(uow: UnitOfWork, request_id: str, side: str) -> None:
    """An item of ``side`` ("matrix" or "rc") settled: if it was the request's last one,
    queue the profile scrub that waits for that side. Callers first check that the
    item's room is settled, so the request-wide count runs once per room, not per item."""
    await uow.erasure.request(request_id, lock=True)  # one at a time (module docstring)
    if await open_items(uow, request_id, side):
        return
    name = GHOST if side == "matrix" else SHADOW
    if name in await pending_steps(uow, request_id):
        await uow.enqueue(_step(await _scrub(uow, request_id, side)))


async def media_settled(uow: UnitOfWork, request_id: str) -> None:
    """The media step is done or given up: the notices go out now."""
    for action in await notice_actions(uow, request_id):
        await uow.enqueue(action)


async def notice_actions(uow: UnitOfWork, request_id: str) -> list[NewAction]:
    """One notice per server the plan gave a notice row (its admins' written request),
    with what it says."""
    rows = [r for r in await uow.erasure.recipients(request_id) if r.room_id == NOTICE_ROOM]
    servers = sorted({r.recipient for r in rows})
    request = await uow.erasure.request(request_id)
    if not servers or request is None:
        return []
    contents = await inputs.notice_contents(uow, request, servers)
    return [
        new_action(
            Notice(request_id, server, contents[server]),
            key=keys.erasure_notice_key(request_id, server),
            queue=keys.erasure_notice_queue(server),
        )
        for server in servers
    ]


async def ready_at_plan(uow: UnitOfWork, request_id: str) -> list[NewAction]:
    """The ordered steps whose predecessors are settled when the plan is queued (none to
    wait for: a request with no Matrix copies scrubs the ghost at once)."""
    out: list[NewAction] = []
    pending = await pending_steps(uow, request_id)
    if GHOST in pending and not await open_items(uow, request_id, "matrix"):
        out.append(_step(await _scrub(uow, request_id, "matrix")))
    if SHADOW in pending and not await open_items(uow, request_id, "rc"):
        out.append(_step(await _scrub(uow, request_id, "rc")))
    if MEDIA not in pending:
        out += await notice_actions(uow, request_id)
    return out
