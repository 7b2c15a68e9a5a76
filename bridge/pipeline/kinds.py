"""Outbox action kinds of the relay and of the bridge's notices: what the core enqueues
and the connectors' executors are registered for.

A queue serialises its actions: everything bound for one Matrix room shares
``matrix:<room>``, everything bound for one Rocket.Chat room ``rc:<room>``
(``bridge.pipeline.keys``). That keeps order within a room and paces sends, so a
receiving Synapse never has more than one of our events per room in flight
(docs/synapse-notes.md: it prunes beyond ~100).
"""

from __future__ import annotations

import attrs

from bridge.pipeline.actions import action, new_action
from bridge.pipeline.keys import reply_queue
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
PROFILE_SCRUB = "matrix.profile_scrub"

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


@attrs.frozen
class Notice:
    """The bridge saying something in a room: a command's reply, a refusal, a report."""

    room_id: str  # a Matrix room id, or a Rocket.Chat room id
    text: str


@action(MATRIX_NOTICE)
@attrs.frozen
class MatrixNotice(Notice):
    pass


@action(RC_NOTICE)
@attrs.frozen
class RCNotice(Notice):
    pass


@attrs.frozen
class NoticeSent:
    """A Matrix notice's event."""

    event_id: str


@attrs.frozen
class RCNoticeSent:
    """A Rocket.Chat notice's message."""

    rc_message_id: str


def notice(side: str, key: str, room_id: str, text: str) -> NewAction:
    """The bridge saying something in a room of ``side`` ("matrix" or "rocketchat")."""
    value = MatrixNotice(room_id, text) if side == "matrix" else RCNotice(room_id, text)
    return new_action(value, key=key, queue=reply_queue(side, room_id))
