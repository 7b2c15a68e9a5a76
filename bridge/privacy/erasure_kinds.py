"""Outbox action kinds of the erasure engine, their idempotency keys and queues.

Kept apart from ``bridge.pipeline.kinds`` because they belong to the privacy layer.
Redactions and deletions have queues of their own, one per room and side, beside the
room's relay queue: an erasure must never wait behind a message that keeps failing (or
behind a room's whole backlog). Still one at a time per room, so a room has at most two
of our events in flight, far below the ~100 queued events per room beyond which a
receiving Synapse prunes (docs/erasure.md).
"""

from __future__ import annotations

REDACT = "erasure.redact"
RC_DELETE = "erasure.rc_delete"
RC_CLEAN = "erasure.rc_clean"
GHOST_SCRUB = "erasure.ghost_scrub"
SHADOW_SCRUB = "erasure.shadow_scrub"
MEDIA = "erasure.media"
NOTICE = "erasure.notice"
DELIVERY = "erasure.delivery"

ALL = (REDACT, RC_DELETE, RC_CLEAN, GHOST_SCRUB, SHADOW_SCRUB, MEDIA, NOTICE, DELIVERY)

# Message/reaction/file ids are never personal data by themselves; payloads carry only
# ids, and executors read what else they need from the erasure tables (which are
# scrubbed when the request finishes).


def key_prefix(request_id: str) -> str:
    return f"erasure:{request_id}:"


def redact_key(request_id: str, disclosure_id: int) -> str:
    return f"{key_prefix(request_id)}redact:{disclosure_id}"


def rc_delete_key(request_id: str, rc_message_id: str) -> str:
    return f"{key_prefix(request_id)}rc-delete:{rc_message_id}"


def rc_clean_key(request_id: str, rc_room_id: str) -> str:
    return f"{key_prefix(request_id)}rc-clean:{rc_room_id}"


def step_key(request_id: str, step: str) -> str:
    return f"{key_prefix(request_id)}step:{step}"


def notice_key(request_id: str, server: str) -> str:
    return f"{key_prefix(request_id)}notice:{server}"


def delivery_key(request_id: str, server: str) -> str:
    return f"{key_prefix(request_id)}delivery:{server}"


def redact_queue(room_id: str) -> str:
    return f"erasure-room:{room_id}"


def rc_delete_queue(rc_room_id: str) -> str:
    # Brought forward with the "rc:" queues when Rocket.Chat is back (BridgeApp).
    return f"rc-erasure:{rc_room_id}"


def request_queue(request_id: str) -> str:
    return f"erasure:{request_id}"


def notice_queue(server: str) -> str:
    # One queue per remote server: its admins get our notices one at a time, in order.
    return f"erasure-notice:{server}"


def delivery_queue(request_id: str, server: str) -> str:
    return f"erasure-delivery:{request_id}:{server}"
