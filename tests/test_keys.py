"""Queue names and idempotency keys are stored data: their formats never change.

A database in use holds these exact strings. A key written differently after an upgrade
would enqueue again an effect that already happened (a message posted twice, a notice
sent twice), so each format is pinned here, byte for byte, with the hashed parts spelt
out.
"""

from __future__ import annotations

import hashlib
import inspect

import pytest

from bridge.pipeline import keys


def sha(value: str, chars: int) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:chars]


ROOM = "!room:hs1.test"
RC_ROOM = "GENERAL"
EVENT = "$event:hs1.test"
USER = "@alice:hs1.test"
RC_USER = "Rc7UserId0000001"

PINNED: dict[str, tuple[str, str]] = {
    # queues
    "matrix_queue": (keys.matrix_queue(7), "matrix:7"),
    "matrix_room_queue": (keys.matrix_room_queue(ROOM), f"matrix:{ROOM}"),
    "rc_queue": (keys.rc_queue(RC_ROOM), "rc:GENERAL"),
    "reply_queue": (keys.reply_queue("matrix", ROOM), f"reply:matrix:{sha(ROOM, 24)}"),
    "profile_queue": (keys.profile_queue(RC_USER), f"profile:{sha(RC_USER, 24)}"),
    "person_commands_queue": (
        keys.person_commands_queue("matrix", USER),
        f"privacy:matrix:{USER}",
    ),
    "bridge_admin_queue": (keys.bridge_admin_queue(ROOM), f"bridge-admin:{ROOM}"),
    "partner_queue": (keys.partner_queue(ROOM), f"partner:{sha(ROOM, 24)}"),
    "mail_queue": (keys.mail_queue("dpo@hs2.test"), f"mail:{sha('dpo@hs2.test', 16)}"),
    "incident_queue": (
        keys.incident_queue("matrix", USER),
        f"incident:{sha(f'matrix:{USER}', 24)}",
    ),
    "erasure_redact_queue": (keys.erasure_redact_queue(ROOM), f"erasure-room:{ROOM}"),
    "erasure_rc_delete_queue": (keys.erasure_rc_delete_queue(RC_ROOM), "rc-erasure:GENERAL"),
    "erasure_request_queue": (keys.erasure_request_queue("er-1"), "erasure:er-1"),
    "erasure_notice_queue": (keys.erasure_notice_queue("hs2.test"), "erasure-notice:hs2.test"),
    "erasure_delivery_queue": (
        keys.erasure_delivery_queue("er-1", "hs2.test"),
        "erasure-delivery:er-1:hs2.test",
    ),
    # keys of the relay
    "portal_key": (keys.portal_key(RC_ROOM), "create-portal:GENERAL"),
    "seed_ledger_key": (keys.seed_ledger_key(ROOM), f"seed-ledger:{ROOM}"),
    "shadow_key": (keys.shadow_key(USER), f"shadow:{USER}"),
    "rc_message_key": (keys.rc_message_key("m1", 2), "rc-msg:m1:2"),
    "rc_edit_key": (keys.rc_edit_key("m1", 1700000000123), "rc-edit:m1:1700000000123"),
    "rc_react_key": (keys.rc_react_key("m1", ":smile:", "bob", 5), "rc-react:m1::smile::bob:5"),
    "rc_unreact_key": (keys.rc_unreact_key(EVENT), f"rc-unreact:{EVENT}"),
    "rc_delete_key": (keys.rc_delete_key(EVENT), f"rc-del:{EVENT}"),
    "rc_member_key": (keys.rc_member_key("m1"), "rc-member:m1"),
    "rc_member_ghost_key": (keys.rc_member_ghost_key("m1"), "rc-member-ghost:m1"),
    "ghost_profile_key": (
        keys.ghost_profile_key(RC_USER, "Alice", None),
        f"ghost-profile:{RC_USER}:{sha('Alice', 16)}:0",
    ),
    "ghost_profile_key checked": (
        keys.ghost_profile_key(RC_USER, "Alice", 42),
        f"ghost-profile:{RC_USER}:{sha('Alice', 16)}:42",
    ),
    "ghost_profile_change_key": (
        keys.ghost_profile_change_key("k"),
        "ghost-profile-change:k",
    ),
    "ghost_profile_change_key none": (
        keys.ghost_profile_change_key(None),
        "ghost-profile-change:None",
    ),
    "account_deleted_key": (
        keys.account_deleted_key(RC_USER),
        f"rc.account_deleted:{sha(RC_USER, 24)}",
    ),
    "profile_scrub_key": (
        keys.profile_scrub_key(RC_USER),
        f"matrix.profile_scrub:{sha(RC_USER, 24)}",
    ),
    "mx_message_key": (keys.mx_message_key(EVENT), f"mx-msg:{EVENT}"),
    "mx_edit_key": (keys.mx_edit_key(EVENT), f"mx-edit:{EVENT}"),
    "mx_react_key": (keys.mx_react_key(EVENT), f"mx-react:{EVENT}"),
    "mx_redact_key": (keys.mx_redact_key(EVENT), f"mx-redact:{EVENT}"),
    "redaction_check_key": (
        keys.redaction_check_key(EVENT, USER),
        f"matrix.redaction_check:{EVENT}:{USER}",
    ),
    "rc_kick_key": (keys.rc_kick_key(EVENT), f"rc-kick:{EVENT}"),
    "rc_join_key": (
        keys.rc_join_key(USER, RC_ROOM, EVENT),
        f"rc-join:{USER}:GENERAL:{EVENT}",
    ),
    "join_room_key": (keys.join_room_key(EVENT), f"matrix.join_room:{EVENT}"),
    "retention_key": (
        keys.retention_key(ROOM, {"max_lifetime": 60000, "a": 1}),
        f'retention:{ROOM}:{{"a": 1, "max_lifetime": 60000}}',
    ),
    # keys of the notices and answers
    "encrypted_notice_key": (keys.encrypted_notice_key(ROOM), f"encrypted:{ROOM}"),
    "too_long_notice_key": (keys.too_long_notice_key("m1"), "too-long:m1"),
    "dead_notice_key": (keys.dead_notice_key("rc-msg:m1:0"), "dead-notice:rc-msg:m1:0"),
    "joined_notice_key": (
        keys.joined_notice_key(EVENT, "rc"),
        f"joined:{sha(EVENT, 32)}:rc",
    ),
    "paused_notice_key": (
        keys.paused_notice_key("partner-enforce:x", "m"),
        "partner-enforce:x:notice:m",
    ),
    "reply_key": (keys.reply_key(EVENT, 1), f"reply:{sha(EVENT, 24)}:1"),
    "link_reply_key": (keys.link_reply_key(EVENT), f"reply:link:{EVENT}"),
    "bridge_link_key": (keys.bridge_link_key(EVENT), f"bridge-link:{EVENT}"),
    "privacy_job_key": (
        keys.privacy_job_key(EVENT, "export"),
        f"privacy-job:{sha(EVENT, 24)}:export",
    ),
    "privacy_progress_key": (
        keys.privacy_progress_key("er-1", "executing"),
        "privacy-progress:er-1:executing",
    ),
    "classify_room_key": (
        keys.classify_room_key("matrix", EVENT),
        f"privacy.classify_room:matrix:{EVENT}",
    ),
    "first_notice_key": (
        keys.first_notice_key(f"matrix:{USER}"),
        f"privacy.first_notice:matrix:{USER}",
    ),
    "optout_rc_key": (keys.optout_rc_key("m1"), "optout:rc:m1"),
    "optout_matrix_key": (keys.optout_matrix_key(EVENT), f"optout:mx:{EVENT}"),
    # keys of the privacy engine
    "erasure_key_prefix": (keys.erasure_key_prefix("er-1"), "erasure:er-1:"),
    "erasure_redact_key": (keys.erasure_redact_key("er-1", 12), "erasure:er-1:redact:12"),
    "erasure_rc_delete_key": (
        keys.erasure_rc_delete_key("er-1", "m1"),
        "erasure:er-1:rc-delete:m1",
    ),
    "erasure_rc_clean_key": (
        keys.erasure_rc_clean_key("er-1", RC_ROOM),
        "erasure:er-1:rc-clean:GENERAL",
    ),
    "erasure_step_key": (keys.erasure_step_key("er-1", "profile"), "erasure:er-1:step:profile"),
    "erasure_notice_key": (
        keys.erasure_notice_key("er-1", "hs2.test"),
        "erasure:er-1:notice:hs2.test",
    ),
    "erasure_delivery_key": (
        keys.erasure_delivery_key("er-1", "hs2.test"),
        "erasure:er-1:delivery:hs2.test",
    ),
    "erasure_delivery_check_key": (
        keys.erasure_delivery_check_key("er-1", "hs2.test", 3),
        "erasure:er-1:delivery:hs2.test:check:3",
    ),
    "contact_key": (
        keys.contact_key("erasure:er-1:notice:hs2.test", "@admin:hs2.test"),
        "erasure:er-1:notice:hs2.test:@admin:hs2.test",
    ),
    "mail_key": (
        keys.mail_key("erasure:er-1:notice:hs2.test", "dpo@hs2.test"),
        f"erasure:er-1:notice:hs2.test:mail:{sha('dpo@hs2.test', 16)}",
    ),
    "incident_key": (keys.incident_key("in-1"), "incident:in-1"),
    "incident_notify_key": (
        keys.incident_notify_key("in-1", "person", "rocketchat", RC_USER),
        f"incident:in-1:person:{sha(f'rocketchat:{RC_USER}', 24)}",
    ),
    "partner_enforce_key": (
        keys.partner_enforce_key(ROOM, "hs3.test", 4),
        f"partner-enforce:{sha(ROOM, 24)}:hs3.test:4",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_each_format_is_pinned(name: str) -> None:
    produced, expected = PINNED[name]
    assert produced == expected


def test_every_function_of_the_module_is_pinned() -> None:
    """A format added to the module gets its pin here."""
    functions = {
        name
        for name, value in vars(keys).items()
        if inspect.isfunction(value) and value.__module__ == keys.__name__
    }
    pinned = {name.split()[0] for name in PINNED}
    assert functions - {"_sha"} == pinned


def test_read_back_prefixes_match_what_is_written() -> None:
    assert keys.matrix_queue(1).startswith(keys.MATRIX_QUEUE)
    assert keys.matrix_room_queue(ROOM).startswith(keys.MATRIX_QUEUE)
    assert keys.rc_queue(RC_ROOM).startswith(keys.RC_QUEUE)
    assert keys.person_commands_queue("matrix", USER).startswith(keys.PRIVACY_QUEUE)
    assert keys.erasure_rc_delete_queue(RC_ROOM).startswith(keys.RC_ERASURE_QUEUE)
    written = {
        keys.RC_MESSAGE: keys.rc_message_key("m", 0),
        keys.RC_EDIT: keys.rc_edit_key("m", 1),
        keys.RC_REACT: keys.rc_react_key("m", "s", "u", 1),
        keys.RC_UNREACT: keys.rc_unreact_key(EVENT),
        keys.RC_DELETE: keys.rc_delete_key(EVENT),
        keys.MX_MESSAGE: keys.mx_message_key(EVENT),
        keys.MX_EDIT: keys.mx_edit_key(EVENT),
        keys.MX_REACT: keys.mx_react_key(EVENT),
        keys.MX_REDACT: keys.mx_redact_key(EVENT),
    }
    for prefix, key in written.items():
        assert key.startswith(prefix)
