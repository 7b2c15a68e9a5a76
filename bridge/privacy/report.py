"""Status words and the final report to the person (docs/erasure.md, Status words).

Every status names something the bridge *observed*. None of them claims that a copy is
gone from a server the organisation does not run: a redaction is a request that a remote
server applies (or not), and keeps the original for a while (Synapse:
``redaction_retention_period``, 7 days by default; docs/synapse-notes.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

# Per recipient (and per item side): the only words the engine writes.
PENDING = "pending"
REDACTION_SENT = "redaction sent"
DELIVERED = "delivered"  # the homeserver reports the destination caught up
ADMIN_NOTIFIED = "admin notified"
NO_CONTACT = "no contact published"
ACKNOWLEDGED = "acknowledged by remote"
# A receiver's answers (docs/erasure-protocol.md), each with its detail or reason.
PURGED = "purged by recipient"
REFUSED = "refused by recipient"
DELETED = "deleted"  # the organisation's own Rocket.Chat, observed directly
# Our Rocket.Chat took the message out of every view but keeps it in its database: with
# Message_KeepHistory on, and always for a thread's parent message (Rocket.Chat
# apps/meteor/app/lib/server/functions/deleteMessage.ts; docs/rocketchat-notes.md).
HIDDEN = "hidden"
NOT_NEEDED = "not needed"  # e.g. a mention: the message is another person's
NOT_POSSIBLE = "not possible"
LEFT_ROOM = "no room redaction: left the room"
JOINED_LATER = "no room redaction: joined after the item was sent"
RETRYING = "retrying"

# Statuses a recipient row never moves back from.
FINAL_MATRIX = (REDACTION_SENT, DELIVERED)
NOTICE_FINAL = (ADMIN_NOTIFIED, NO_CONTACT, ACKNOWLEDGED, PURGED, REFUSED)
# A receiver's final answers: nothing moves a notice row away from them.
ANSWERED = (PURGED, REFUSED)


def failed(reason: str, *, retrying: bool = True) -> str:
    text = f"failed: {reason.strip()[:180]}"
    return f"{text}, {RETRYING}" if retrying else text


def is_failure(status: str) -> bool:
    return status.startswith("failed:")


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
    for status, servers in sorted(by_status.items()):
        names = ", ".join(sorted(servers))
        if status in (ADMIN_NOTIFIED, ACKNOWLEDGED, PURGED, REFUSED):
            said = "their administrators were sent a written request instead"
        elif status == NO_CONTACT:
            said = "they publish no administrator contact, so no written request could be sent"
        elif status == PENDING:
            said = "a written request to their administrators has not been sent yet"
        else:
            said = f"a written request to their administrators was not sent ({status})"
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
