"""Before a late retry, find the event an earlier attempt may already have sent.

A repeat of a Matrix PUT with the same ``txnId`` returns the first event instead of
sending a second one, but only while the homeserver remembers the transaction: Synapse
keeps its transaction cache in memory and drops entries after 30 minutes
(synapse/rest/client/transactions.py, ``CLEANUP_PERIOD_MS``), or at a restart. An action
whose first attempt may be older than that (a long outage, a crash before its done mark)
looks first (docs/synapse-notes.md, Transaction ids):

- a redaction: the target event already carries ``unsigned.redacted_because``;
- a message: a recent event of the same sender in the room carries our ``txnId`` in
  ``org.rcbridge.txn`` (every event the relay sends has it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mautrix.api import Method, Path
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixStandardRequestError
from mautrix.types import EventID, RoomID

from bridge.pipeline.actions import Run
from bridge.storage.common import now_ms
from bridge.storage.outbox import Action

log = logging.getLogger(__name__)

TXN_FIELD = "org.rcbridge.txn"
# Well inside Synapse's 30 minutes: an action this old may have outlived its transaction.
LATE_MS = 20 * 60 * 1000
# How far back a late send looks among the sender's own events in the room.
LOOKBACK = 100


def is_late(action: Action | Run[Any], now: int | None = None) -> bool:
    return (now_ms() if now is None else now) - action.created_ms >= LATE_MS


async def existing_redaction(
    intent: IntentAPI, room_id: RoomID, event_id: EventID
) -> EventID | None:
    """The redaction already applied to ``event_id``, if any."""
    try:
        event: dict[str, Any] = await intent.api.request(
            Method.GET, Path.v3.rooms[room_id].event[event_id]
        )
    except MatrixStandardRequestError as e:
        if e.errcode in ("M_NOT_FOUND", "M_FORBIDDEN"):
            return None  # not visible to this sender: the PUT will say what is wrong
        raise
    because = (event.get("unsigned") or {}).get("redacted_because") or {}
    found = because.get("event_id")
    return EventID(found) if isinstance(found, str) else None


async def existing_send(
    intent: IntentAPI, room_id: RoomID, txn_id: str, senders: list[str] | None = None
) -> EventID | None:
    """A recent event in ``room_id`` of ``senders`` (default: the intent's own user) that
    carries ``txn_id``, if any."""
    query = {
        "dir": "b",
        "limit": str(LOOKBACK),
        "filter": json.dumps({"senders": senders or [intent.mxid], "lazy_load_members": True}),
    }
    answer: dict[str, Any] = await intent.api.request(
        Method.GET, Path.v3.rooms[room_id].messages, query_params=query
    )
    for event in answer.get("chunk", []):
        if (event.get("content") or {}).get(TXN_FIELD) == txn_id:
            log.info("Late retry found its event already sent in %s", room_id)
            return EventID(event["event_id"])
    return None
