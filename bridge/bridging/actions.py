"""Outbox action kinds of the bridging core, and the queue each belongs to.

A queue serialises its actions: everything bound for one Matrix room shares
``matrix:<room>``, everything bound for one Rocket.Chat room ``rc:<room>``. That keeps
order within a room and paces sends, so a receiving Synapse never has more than one of
our events per room in flight (docs/synapse-notes.md: it prunes beyond ~100).
"""

from __future__ import annotations

import hashlib

from bridge.storage.outbox import NewAction

# Matrix side
CREATE_PORTAL = "matrix.create_portal"
MATRIX_SEND = "matrix.send"
MATRIX_UPLOAD = "matrix.upload"
MATRIX_REDACT = "matrix.redact"
MATRIX_MEMBERSHIP = "matrix.membership"
MATRIX_PROFILE = "matrix.profile"
MATRIX_NOTICE = "matrix.notice"
MATRIX_SEED = "matrix.seed_ledger"

# Commands
BRIDGE_LINK = "bridge.link"
RC_NOTICE = "rc.notice"

# Rocket.Chat side
RC_SHADOW = "rc.ensure_shadow"
RC_SEND = "rc.send"
RC_UPDATE = "rc.update"
RC_DELETE = "rc.delete"
RC_REACT = "rc.react"
RC_UPLOAD = "rc.upload"
RC_JOIN = "rc.join_room"
RC_KICK = "rc.kick"
RC_RESOLVE_USER = "rc.resolve_user"


def notice(side: str, key: str, room_id: str, text: str) -> NewAction:
    """The bridge saying something in a room of ``side`` ("matrix" or "rocketchat")."""
    return NewAction(
        key=key,
        kind=MATRIX_NOTICE if side == "matrix" else RC_NOTICE,
        queue=reply_queue(side, room_id),
        payload={"room_id": room_id, "text": text},
    )


def reply_queue(side: str, room_id: str) -> str:
    """The queue of the bridge's answers in one room. The room id is hashed: Rocket.Chat
    names a direct-message room by its two members' user ids put together (Rocket.Chat
    apps/meteor/app/lib/server/functions/createDirectRoom.ts), and a queue name outlives
    the action in the done row, so it must not carry a person's id."""
    return f"reply:{side}:{hashlib.sha256(room_id.encode()).hexdigest()[:24]}"


def portal_key(rc_room_id: str) -> str:
    """The one action that creates a Rocket.Chat room's Matrix portal room."""
    return f"create-portal:{rc_room_id}"


def shadow_key(matrix_user_id: str) -> str:
    """The one action that creates a Matrix user's Rocket.Chat shadow account."""
    return f"shadow:{matrix_user_id}"


def matrix_queue(portal_id: int) -> str:
    return f"matrix:{portal_id}"


def rc_queue(rc_room_id: str) -> str:
    return f"rc:{rc_room_id}"
