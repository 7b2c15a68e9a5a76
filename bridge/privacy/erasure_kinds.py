"""Outbox action kinds of the erasure engine (their keys and queues are in
``bridge.pipeline.keys``).

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
