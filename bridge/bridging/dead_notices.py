"""Tell the people in a room that something they sent was given up (a dead letter).

A relayed message, edit, reaction or deletion whose outbox action spent its retry budget
never reached the other side. The room it came from gets a notice saying so, without
quoting anything: the room saw the original, and the notice should carry no more personal
data than needed. The notice is an outbox action of its own, keyed on the dead action's
key, so it is sent once, even when the death is recorded again after a crash.
"""

from __future__ import annotations

import datetime as dt

from bridge.bridging.action_values import MatrixMessage, RCPost
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import Dies, Run, on_dead
from bridge.storage.bridging import Portal
from bridge.storage.database import UnitOfWork

# Key prefixes of relayed actions (rc_to_matrix.py, matrix_to_rc.py) -> what the notice
# calls them. Other actions (profiles, memberships, replies) have no one waiting.
WHAT = {
    keys.RC_MESSAGE: "A message",
    keys.RC_EDIT: "An edit",
    keys.RC_REACT: "A reaction",
    keys.RC_UNREACT: "The removal of a reaction",
    keys.RC_DELETE: "A deletion",
    keys.MX_MESSAGE: "A message",
    keys.MX_EDIT: "An edit",
    keys.MX_REACT: "A reaction",
    keys.MX_REDACT: "A deletion",
}
RELAYED = (
    kinds.MATRIX_SEND,
    kinds.MATRIX_UPLOAD,
    kinds.MATRIX_REDACT,
    kinds.RC_SEND,
    kinds.RC_UPLOAD,
    kinds.RC_UPDATE,
    kinds.RC_DELETE,
    kinds.RC_REACT,
)


def _when(payload: object | None) -> str:
    """When the original was sent, as its record says (a message or post carries one)."""
    record = payload.record if isinstance(payload, MatrixMessage | RCPost) else None
    if record is None:
        return ""
    sent = record.sent_ms
    stamp = dt.datetime.fromtimestamp(sent / 1000, tz=dt.UTC)
    return f" at {stamp:%Y-%m-%d %H:%M} UTC"


async def _source(uow: UnitOfWork, queue: str) -> tuple[str, str, str] | None:
    """(side of the source room, its id, name of the other side) from a relay queue."""
    portal: Portal | None = None
    if queue.startswith(keys.MATRIX_QUEUE):
        number = queue.removeprefix(keys.MATRIX_QUEUE)
        portal = await uow.bridging.portal_by_id(int(number)) if number.isdigit() else None
        if portal is not None:
            return "rocketchat", portal.rc_room_id, "Matrix"
    elif queue.startswith(keys.RC_QUEUE):
        portal = await uow.bridging.portal_by_rc(queue.removeprefix(keys.RC_QUEUE))
        if portal is not None and portal.matrix_room_id is not None:
            return "matrix", portal.matrix_room_id, "Rocket.Chat"
    return None


async def tell_the_room(uow: UnitOfWork, action: Run[object | None], _error: str) -> None:
    what = next((w for prefix, w in WHAT.items() if action.key.startswith(prefix)), None)
    source = await _source(uow, action.queue) if what else None
    if what is None or source is None:
        return
    side, room, other = source
    text = (
        f"{what} sent here{_when(action.payload)} could not be delivered to {other}: the bridge "
        "gave up on it after repeated failures. It was not bridged; the bridge's operator "
        "can see why and retry it."
    )
    await uow.enqueue(kinds.notice(side, keys.dead_notice_key(action.key), room, text))


def dead_hooks() -> dict[str, Dies]:
    return dict.fromkeys(RELAYED, on_dead(tell_the_room))
