"""Outbox action kinds of the erasure engine, with what each carries and returns (their
keys and queues are in ``bridge.pipeline.keys``).

Kept apart from ``bridge.pipeline.kinds`` because they belong to the privacy layer.
Redactions and deletions have queues of their own, one per room and side, beside the
room's relay queue: an erasure must never wait behind a message that keeps failing (or
behind a room's whole backlog). Still one at a time per room, so a room has at most two
of our events in flight, far below the ~100 queued events per room beyond which a
receiving Synapse prunes (docs/erasure.md).

Each payload carries what its executor needs (the event to redact and who redacts it,
the ghost and personas to scrub, the notice's content), filled in by the privacy layer
when it queues the action: the connectors know nothing of erasure state. These copies
live as long as the action: a done one's payload is replaced by ``{}``, a dead letter's
when it is dropped (docs/security.md); ids of events and messages are not personal data,
and a person is named by their pseudonym. Field names are the keys the stored JSON has
always had, and the added fields are left out while empty: a row queued by an older
version reads as these classes, without them, and its completer
(``bridge.privacy.erasure_inputs``) reads them from the erasure tables before the
connector runs it.
"""

from __future__ import annotations

import attrs

from bridge.pipeline.actions import action, omit_defaults, omit_when_default
from bridge.privacy.notices import NoticeContent

REDACT = "erasure.redact"
RC_DELETE = "erasure.rc_delete"
RC_CLEAN = "erasure.rc_clean"
GHOST_SCRUB = "erasure.ghost_scrub"
SHADOW_SCRUB = "erasure.shadow_scrub"
MEDIA = "erasure.media"
NOTICE = "erasure.notice"
DELIVERY = "erasure.delivery"

ALL = (REDACT, RC_DELETE, RC_CLEAN, GHOST_SCRUB, SHADOW_SCRUB, MEDIA, NOTICE, DELIVERY)

# -- per item ----------------------------------------------------------------------------


@action(REDACT)
@omit_when_default("room_id", "event_id", "redactor")
@attrs.frozen
class RedactItem:
    """Redact one Matrix copy (the item the disclosure names) in its room, as
    ``redactor`` (the ghost or persona that sent it; None: the bot)."""

    request_id: str
    disclosure_id: int
    room_id: str | None = None  # None: queued by an older version (completed before it runs)
    event_id: str | None = None
    redactor: str | None = None


@attrs.frozen
class RedactionSent:
    redaction_id: str | None = None


@action(RC_DELETE)
@attrs.frozen
class RCDelete:
    """Delete one Rocket.Chat message with the bridge's admin account."""

    request_id: str
    rc_room_id: str
    rc_message_id: str


@attrs.frozen
class RCDeleted:
    """What Rocket.Chat did: ``hidden`` when it keeps the message in its database."""

    outcome: str = "deleted"

    @property
    def hidden(self) -> bool:
        return self.outcome == "hidden"


@attrs.frozen
class Cleaning:
    """Whose messages a cleanHistory removes, and up to when (``before_ms`` None: up to
    the moment it runs, inclusive); ``username`` None: none is known for the person."""

    username: str | None
    before_ms: int | None = None


@action(RC_CLEAN)
@omit_when_default("inputs")
@attrs.frozen
class RCClean:
    """All the subject's messages in one Rocket.Chat room, in one cleanHistory.
    ``inputs`` None: queued by an older version (bridge.privacy.erasure_inputs)."""

    request_id: str
    rc_room_id: str
    inputs: Cleaning | None = None


@attrs.frozen
class RCCleaned:
    count: int = 0


# -- per request -------------------------------------------------------------------------


@attrs.frozen
class ErasureStep:
    """A step of a request as a whole (the ``erasure_step`` row it settles)."""

    request_id: str
    step: str


@action(GHOST_SCRUB)
@omit_when_default("ghost", "personas")
@attrs.frozen
class GhostScrub(ErasureStep):
    """The person's ghost (and personas): neutral profile, out of every room."""

    ghost: str | None = None  # the subject's Matrix id; None: queued by an older version
    personas: tuple[str, ...] = ()  # their personas that were ever named (docs/partners.md)


@action(MEDIA)
@omit_when_default("ghost", "before_ms")
@attrs.frozen
class MediaDelete(ErasureStep):
    """The ghost's uploads (before ``before_ms``, when the request has that scope),
    deleted from our media store."""

    ghost: str | None = None  # None: queued by an older version
    before_ms: int | None = None


@action(SHADOW_SCRUB)
@omit_when_default("matrix_user_id")
@attrs.frozen
class ShadowScrub(ErasureStep):
    """The Matrix user's shadow account on Rocket.Chat: neutral name and username.
    ``matrix_user_id`` None: queued by an older version (bridge.privacy.erasure_inputs)."""

    matrix_user_id: str | None = None


@attrs.frozen
class StepDone:
    detail: str | None = None


@omit_defaults
@attrs.frozen
class MediaDeleted:
    detail: str | None = None
    media: tuple[str, ...] = ()  # mxc URIs: the notices ask servers to purge their copies


@omit_defaults
@attrs.frozen
class ShadowScrubbed:
    """The new username, so the bridge's own record of the shadow follows."""

    matrix_user_id: str | None = None
    rc_username: str | None = None
    detail: str | None = None


@action(NOTICE)
@omit_when_default("content")
@attrs.frozen
class Notice:
    """The written request to one remote server's admin contacts, and what it says."""

    request_id: str
    server: str
    content: NoticeContent | None = None  # None: queued by an older version


@omit_when_default("source", "rooms", "mail_queued", "mail", "reason")
@attrs.frozen
class NoticeSent:
    """Whom it reached: Matrix contacts (and the DM room of each, where only they may
    acknowledge it), e-mails queued, or why nobody."""

    contacts: tuple[str, ...] = ()  # always stored, empty too
    source: str | None = None
    rooms: dict[str, str] = attrs.Factory(dict)
    mail_queued: int = 0
    mail: str | None = None  # why the e-mail contacts were not written to
    reason: str | None = None  # why there was no contact at all


@action(DELIVERY)
@omit_when_default("rooms", "check")
@attrs.frozen
class Delivery:
    """Read our homeserver's federation queue once: has it delivered to ``server``
    everything queued in ``rooms``? The privacy layer queues the next check while some
    have not and ``deadline_ms`` has not passed (bridge.privacy.erasure_delivery)."""

    request_id: str
    server: str
    deadline_ms: int
    # None: queued by an older version, which read the rooms from the erasure tables
    # (bridge.privacy.erasure_delivery completes it).
    rooms: tuple[str, ...] | None = None
    check: int = 0  # the first check is 0; each next one's key counts up


@omit_when_default("unconfirmed", "pending", "failure_ts")
@attrs.frozen
class DeliveryObserved:
    """What the federation queue showed for the rooms checked."""

    delivered: tuple[str, ...] = ()
    # An older version's: rooms still queued when the deadline passed.
    unconfirmed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()  # still queued for the server
    failure_ts: int | None = None  # since when our homeserver fails to reach the server
