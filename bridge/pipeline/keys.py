"""Every outbox queue name and idempotency key the bridge writes, in one place.

A key makes an effect happen once: enqueueing the same key again is a no-op, and a done
action keeps its key (docs/outbox.md). Keys and queue names are therefore stored data.
Databases in use hold these exact strings, so a format here never changes: a changed key
would enqueue, after an upgrade, an effect that already happened (a message posted
twice). ``tests/test_keys.py`` pins every format.

A queue name outlives its actions in the done rows, so one that would carry a person's id
hashes it instead. Prefixes that are read back (to find a relay's room, to bring a side's
queues forward, to name what a dead letter was) are constants here too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# -- queues --------------------------------------------------------------------------------

MATRIX_QUEUE = "matrix:"
RC_QUEUE = "rc:"
PRIVACY_QUEUE = "privacy:"
RC_ERASURE_QUEUE = "rc-erasure:"


def _sha(value: str, chars: int) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:chars]


def matrix_queue(portal_id: int) -> str:
    """Everything the relay sends into one portal's Matrix room, in order."""
    return f"{MATRIX_QUEUE}{portal_id}"


def matrix_room_queue(room_id: str) -> str:
    """What the bot does in a Matrix room by its id (joining it, its retention event)."""
    return f"{MATRIX_QUEUE}{room_id}"


def rc_queue(rc_room_id: str) -> str:
    """Everything the relay sends into one Rocket.Chat room, in order."""
    return f"{RC_QUEUE}{rc_room_id}"


def reply_queue(side: str, room_id: str) -> str:
    """The queue of the bridge's answers in one room. The room id is hashed: Rocket.Chat
    names a direct-message room by its two members' user ids put together (Rocket.Chat
    apps/meteor/app/lib/server/functions/createDirectRoom.ts)."""
    return f"reply:{side}:{_sha(room_id, 24)}"


def profile_queue(rc_user_id: str) -> str:
    """One queue per ghost profile."""
    return f"profile:{_sha(rc_user_id, 24)}"


def person_commands_queue(side: str, sender: str) -> str:
    """One person's !privacy commands run in order; other people's are not held up."""
    return f"{PRIVACY_QUEUE}{side}:{sender}"


def bridge_admin_queue(room_id: str) -> str:
    return f"bridge-admin:{room_id}"


def partner_queue(room_id: str) -> str:
    return f"partner:{_sha(room_id, 24)}"


def mail_queue(address: str) -> str:
    return f"mail:{_sha(address, 16)}"


def incident_queue(side: str, user_id: str) -> str:
    return f"incident:{_sha(f'{side}:{user_id}', 24)}"


def erasure_redact_queue(room_id: str) -> str:
    """Redactions and deletions have queues of their own, one per room and side, beside
    the room's relay queue: an erasure never waits behind a message that keeps failing."""
    return f"erasure-room:{room_id}"


def erasure_rc_delete_queue(rc_room_id: str) -> str:
    # Brought forward with the relay's queues when Rocket.Chat is back (BridgeApp).
    return f"{RC_ERASURE_QUEUE}{rc_room_id}"


def erasure_request_queue(request_id: str) -> str:
    return f"erasure:{request_id}"


def erasure_notice_queue(server: str) -> str:
    """One queue per remote server: its admins get our notices one at a time, in order."""
    return f"erasure-notice:{server}"


def erasure_delivery_queue(request_id: str, server: str) -> str:
    return f"erasure-delivery:{request_id}:{server}"


# -- keys of the relay ---------------------------------------------------------------------

# Prefixes of the relayed actions' keys, read back to name what a dead letter was.
RC_MESSAGE = "rc-msg:"
RC_EDIT = "rc-edit:"
RC_REACT = "rc-react:"
RC_UNREACT = "rc-unreact:"
RC_DELETE = "rc-del:"
MX_MESSAGE = "mx-msg:"
MX_EDIT = "mx-edit:"
MX_REACT = "mx-react:"
MX_REDACT = "mx-redact:"


def portal_key(rc_room_id: str) -> str:
    """The one action that creates a Rocket.Chat room's Matrix portal room."""
    return f"create-portal:{rc_room_id}"


def seed_ledger_key(matrix_room_id: str) -> str:
    return f"seed-ledger:{matrix_room_id}"


def shadow_key(matrix_user_id: str) -> str:
    """The one action that creates a Matrix user's Rocket.Chat shadow account."""
    return f"shadow:{matrix_user_id}"


def rc_message_key(message_id: str, part: int) -> str:
    return f"{RC_MESSAGE}{message_id}:{part}"


def rc_edit_key(message_id: str, edited_ms: int) -> str:
    return f"{RC_EDIT}{message_id}:{edited_ms}"


def rc_react_key(message_id: str, shortcode: str, username: str, updated_ms: int) -> str:
    return f"{RC_REACT}{message_id}:{shortcode}:{username}:{updated_ms}"


def rc_unreact_key(matrix_event_id: str) -> str:
    return f"{RC_UNREACT}{matrix_event_id}"


def rc_delete_key(matrix_event_id: str) -> str:
    """Redacting one Matrix copy of a deleted Rocket.Chat message."""
    return f"{RC_DELETE}{matrix_event_id}"


def rc_member_key(message_id: str) -> str:
    return f"rc-member:{message_id}"


def rc_member_ghost_key(key: str) -> str:
    return f"rc-member-ghost:{key}"


def ghost_profile_key(rc_user_id: str, name: str, checked_ms: int | None) -> str:
    """Names the profile state it starts from: one check per state."""
    return f"ghost-profile:{rc_user_id}:{_sha(name, 16)}:{checked_ms or 0}"


def ghost_profile_change_key(key: str | None) -> str:
    return f"ghost-profile-change:{key}"


def account_deleted_key(rc_user_id: str) -> str:
    return f"rc.account_deleted:{_sha(rc_user_id, 24)}"


def profile_scrub_key(rc_user_id: str) -> str:
    return f"matrix.profile_scrub:{_sha(rc_user_id, 24)}"


def mx_message_key(event_id: str) -> str:
    return f"{MX_MESSAGE}{event_id}"


def mx_edit_key(event_id: str) -> str:
    return f"{MX_EDIT}{event_id}"


def mx_react_key(event_id: str) -> str:
    return f"{MX_REACT}{event_id}"


def mx_redact_key(redacted_event_id: str) -> str:
    return f"{MX_REDACT}{redacted_event_id}"


def redaction_check_key(redacts: str, sender: str) -> str:
    return f"matrix.redaction_check:{redacts}:{sender}"


def rc_kick_key(event_id: str) -> str:
    return f"rc-kick:{event_id}"


def rc_join_key(user_id: str, rc_room_id: str, join_key: str) -> str:
    return f"rc-join:{user_id}:{rc_room_id}:{join_key}"


def join_room_key(event_id: str) -> str:
    return f"matrix.join_room:{event_id}"


def retention_key(room_id: str, content: Mapping[str, Any]) -> str:
    """Keyed by the content: the same policy is set once, a changed one again."""
    return f"retention:{room_id}:{json.dumps(content, sort_keys=True)}"


# -- keys of the bridge's notices and answers ----------------------------------------------


def encrypted_notice_key(room_id: str) -> str:
    return f"encrypted:{room_id}"


def too_long_notice_key(message_id: str) -> str:
    return f"too-long:{message_id}"


def dead_notice_key(dead_key: str) -> str:
    return f"dead-notice:{dead_key}"


def joined_notice_key(event_id: str, side_tag: str) -> str:
    """One notice per join event and side (``m``, ``rc``): a server may leave and join
    again."""
    return f"joined:{_sha(event_id, 32)}:{side_tag}"


def paused_notice_key(enforce_key: str, side_tag: str) -> str:
    return f"{enforce_key}:notice:{side_tag}"


def reply_key(command_event_id: str, n: int) -> str:
    return f"reply:{_sha(command_event_id, 24)}:{n}"


def link_reply_key(command_event_id: str) -> str:
    return f"reply:link:{command_event_id}"


def bridge_link_key(event_id: str) -> str:
    return f"bridge-link:{event_id}"


def privacy_job_key(command_event_id: str, job: str) -> str:
    return f"privacy-job:{_sha(command_event_id, 24)}:{job}"


def privacy_progress_key(request_id: str, state: str) -> str:
    return f"privacy-progress:{request_id}:{state}"


def classify_room_key(side: str, event_id: str) -> str:
    return f"privacy.classify_room:{side}:{event_id}"


def first_notice_key(person: str) -> str:
    return f"privacy.first_notice:{person}"


def optout_rc_key(message_id: str) -> str:
    return f"optout:rc:{message_id}"


def optout_matrix_key(event_id: str) -> str:
    return f"optout:mx:{event_id}"


# -- keys of the privacy engine ------------------------------------------------------------


def erasure_key_prefix(request_id: str) -> str:
    return f"erasure:{request_id}:"


def erasure_redact_key(request_id: str, disclosure_id: int) -> str:
    return f"{erasure_key_prefix(request_id)}redact:{disclosure_id}"


def erasure_rc_delete_key(request_id: str, rc_message_id: str) -> str:
    return f"{erasure_key_prefix(request_id)}rc-delete:{rc_message_id}"


def erasure_rc_clean_key(request_id: str, rc_room_id: str) -> str:
    return f"{erasure_key_prefix(request_id)}rc-clean:{rc_room_id}"


def erasure_step_key(request_id: str, step: str) -> str:
    return f"{erasure_key_prefix(request_id)}step:{step}"


def erasure_notice_key(request_id: str, server: str) -> str:
    return f"{erasure_key_prefix(request_id)}notice:{server}"


def erasure_delivery_key(request_id: str, server: str) -> str:
    return f"{erasure_key_prefix(request_id)}delivery:{server}"


def erasure_delivery_check_key(request_id: str, server: str, check: int) -> str:
    """The ``check``-th (1, 2, ...) follow-up of the first delivery check."""
    return f"{erasure_delivery_key(request_id, server)}:check:{check}"


def contact_key(action_key: str, contact: str) -> str:
    """One erasure notice to one of a server's contacts (the base of its DM and mail)."""
    return f"{action_key}:{contact}"


def mail_key(base: str, address: str) -> str:
    return f"{base}:mail:{_sha(address, 16)}"


def incident_key(incident: str) -> str:
    """The base of an incident's mails (``mail_key``)."""
    return f"incident:{incident}"


def incident_notify_key(incident: str, step: str, side: str, user_id: str) -> str:
    """A notice about an incident: names the incident and the step, not the person."""
    return f"{incident_key(incident)}:{step}:{_sha(f'{side}:{user_id}', 24)}"


def partner_enforce_key(room_id: str, server: str, version: int) -> str:
    return f"partner-enforce:{_sha(room_id, 24)}:{server}:{version}"


# -- leader locks --------------------------------------------------------------------------
# The jobs one process runs at a time (bridge.workers.leader). Each name is the key of a
# PostgreSQL advisory lock (bridge.storage.leader), so processes of two versions running
# side by side during an upgrade must agree on it: like the keys above, never changed.

RC_INTAKE_JOB = "rocketchat_intake"  # the realtime listener, or the webhook mode's catch-up
RC_PEOPLE_JOB = "rocketchat_people"
PRUNING_JOB = "pruning"
CHECKPOINTS_JOB = "audit_checkpoints"
RETENTION_JOB = "retention"
