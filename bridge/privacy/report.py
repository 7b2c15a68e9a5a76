"""Status words and the final report to the person (docs/erasure.md, Status words).

Every status names something the bridge *observed*. None of them claims that a copy is
gone from a server the organisation does not run: a redaction is a request that a remote
server applies (or not), and keeps the original for a while (Synapse:
``redaction_retention_period``, 7 days by default; docs/synapse-notes.md).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class Status(enum.StrEnum):
    """Per recipient, per item side and per step: the only statuses the engine writes.

    The value is the stable code the erasure tables store; what people read is its
    label (:data:`LABELS`, :func:`label`), so rewording a label changes no stored row.
    A failure is stored as its code, a colon and the reason (:func:`failed`).
    """

    PENDING = "pending"
    REDACTION_SENT = "redaction_sent"
    DELIVERED = "delivered"  # the homeserver reports the destination caught up
    ADMIN_NOTIFIED = "admin_notified"
    NO_CONTACT = "no_contact"
    ACKNOWLEDGED = "acknowledged"
    # A receiver's answers (docs/erasure-protocol.md), each with its detail or reason.
    PURGED = "purged"
    REFUSED = "refused"
    DELETED = "deleted"  # the organisation's own Rocket.Chat, observed directly
    # Our Rocket.Chat took the message out of every view but keeps it in its database:
    # with Message_KeepHistory on, and always for a thread's parent message (Rocket.Chat
    # apps/meteor/app/lib/server/functions/deleteMessage.ts; docs/rocketchat-notes.md).
    HIDDEN = "hidden"
    NOT_NEEDED = "not_needed"  # e.g. a mention: the message is another person's
    NOT_POSSIBLE = "not_possible"
    LEFT_ROOM = "left_room"
    JOINED_LATER = "joined_later"
    DONE = "done"  # a step
    # Failures, stored with their reason: "failed:<reason>" is given up (a dead letter),
    # "retrying:<reason>" failed and is tried again.
    FAILED = "failed"
    RETRYING = "retrying"


LABELS: dict[Status, str] = {
    Status.PENDING: "pending",
    Status.REDACTION_SENT: "redaction sent",
    Status.DELIVERED: "delivered",
    Status.ADMIN_NOTIFIED: "admin notified",
    Status.NO_CONTACT: "no contact published",
    Status.ACKNOWLEDGED: "acknowledged by remote",
    Status.PURGED: "purged by recipient",
    Status.REFUSED: "refused by recipient",
    Status.DELETED: "deleted",
    Status.HIDDEN: "hidden",
    Status.NOT_NEEDED: "not needed",
    Status.NOT_POSSIBLE: "not possible",
    Status.LEFT_ROOM: "no room redaction: left the room",
    Status.JOINED_LATER: "no room redaction: joined after the item was sent",
    Status.DONE: "done",
    Status.FAILED: "failed",
    Status.RETRYING: "retrying",
}

PENDING = Status.PENDING
REDACTION_SENT = Status.REDACTION_SENT
DELIVERED = Status.DELIVERED
ADMIN_NOTIFIED = Status.ADMIN_NOTIFIED
NO_CONTACT = Status.NO_CONTACT
ACKNOWLEDGED = Status.ACKNOWLEDGED
PURGED = Status.PURGED
REFUSED = Status.REFUSED
DELETED = Status.DELETED
HIDDEN = Status.HIDDEN
NOT_NEEDED = Status.NOT_NEEDED
NOT_POSSIBLE = Status.NOT_POSSIBLE
LEFT_ROOM = Status.LEFT_ROOM
JOINED_LATER = Status.JOINED_LATER
DONE = Status.DONE

# Statuses a recipient row never moves back from.
FINAL_MATRIX = (REDACTION_SENT, DELIVERED)
NOTICE_FINAL = (ADMIN_NOTIFIED, NO_CONTACT, ACKNOWLEDGED, PURGED, REFUSED)
# A receiver's final answers: nothing moves a notice row away from them.
ANSWERED = (PURGED, REFUSED)


def failed(reason: str, *, retrying: bool = True) -> str:
    """The stored status of a failed attempt: its code and the reason (not a label)."""
    code = Status.RETRYING if retrying else Status.FAILED
    return f"{code}:{reason.strip()[:180]}"


def is_failure(status: str) -> bool:
    return status.startswith((f"{Status.FAILED}:", f"{Status.RETRYING}:"))


def is_retrying(status: str) -> bool:
    return status.startswith(f"{Status.RETRYING}:")


def label(status: str) -> str:
    """What a stored status says to people ("failed: <reason>, retrying" for a failure
    that is tried again). A word no code knows is shown as it is."""
    code, colon, reason = status.partition(":")
    if colon and code == Status.RETRYING:
        return f"{LABELS[Status.FAILED]}: {reason}, {LABELS[Status.RETRYING]}"
    if colon and code == Status.FAILED:
        return f"{LABELS[Status.FAILED]}: {reason}"
    try:
        return LABELS[Status(status)]
    except ValueError:
        return status


def labelled(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts by status, keyed by label."""
    out: dict[str, int] = {}
    for status, n in counts.items():
        out[label(status)] = out.get(label(status), 0) + n
    return out


LIMITS = (
    "What a redaction cannot guarantee:",
    "- Other servers decide themselves when to apply a redaction. Synapse, the most common "
    "server, keeps the original content of a redacted message for 7 days by default before "
    "removing it from its database.",
    "- Copies already on people's phones and computers (their Matrix or Rocket.Chat apps, "
    "notifications, screenshots, exports) are out of our reach.",
    "- The fact that a message existed, who sent it and when, stays in the room's history; "
    "only its content is removed.",
)


def limits(unreachable: Sequence[tuple[str, str]], hidden: int) -> list[str]:
    """The limits that apply to this request, said from its statuses.

    ``unreachable``: (server, notice status) of each server a redaction could not reach
    (it had left the room, or joined after the message); ``hidden``: Rocket.Chat copies
    our Rocket.Chat only hid. Nothing here claims a step the statuses do not show.
    """
    lines = list(LIMITS)
    if hidden:
        lines.append(
            f"- Our Rocket.Chat keeps {hidden} of your messages in its database, hidden from "
            "everyone (its Message_KeepHistory setting, or a message that started a thread): "
            "they are no longer shown, but they are not deleted."
        )
    by_status: dict[str, list[str]] = {}
    for server, status in unreachable:
        by_status.setdefault(status, []).append(server)
    for status, servers in sorted(by_status.items(), key=lambda kv: label(kv[0])):
        names = ", ".join(sorted(servers))
        if status in (ADMIN_NOTIFIED, ACKNOWLEDGED, PURGED, REFUSED):
            said = "their administrators were sent a written request instead"
        elif status == NO_CONTACT:
            said = "they publish no administrator contact, so no written request could be sent"
        elif status == PENDING:
            said = "a written request to their administrators has not been sent yet"
        else:
            said = f"a written request to their administrators was not sent ({label(status)})"
        lines.append(
            f"- Servers that had left the room, or joined it after your message ({names}), "
            f"cannot be reached by a redaction: {said}."
        )
    return lines


@dataclass(frozen=True)
class ServerLine:
    recipient: str
    kind: str  # "local", "remote", "rocketchat"
    outcome: str  # e.g. "delivered in 2 rooms; admin notified"


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date().isoformat()


def render(
    *,
    request_id: str,
    state: str,
    received_ms: int,
    due_ms: int,
    items: int,
    servers: Sequence[ServerLine],
    steps: Sequence[tuple[str, str]],
    unreachable: Sequence[tuple[str, str]] = (),
    hidden: int = 0,
) -> str:
    """The plain-language report sent to the person and kept in the request log."""
    lines = [
        f"Erasure request {request_id}",
        f"Received {_day(received_ms)}; due {_day(due_ms)}; now: {state}.",
        f"Items covered: {items}.",
        "",
        "Where your data went, and what we observed for each place:",
    ]
    names = {"local": "our Matrix server", "rocketchat": "our Rocket.Chat", "remote": "server"}
    for s in servers:
        lines.append(f"- {s.recipient} ({names.get(s.kind, s.kind)}): {s.outcome}")
    if not servers:
        lines.append("- no recipients recorded")
    if steps:
        lines += ["", "Other steps:"]
        lines += [f"- {name}: {status}" for name, status in steps]
    lines += ["", *limits(unreachable, hidden)]
    return "\n".join(lines)
