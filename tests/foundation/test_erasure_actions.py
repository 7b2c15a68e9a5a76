"""The erasure engine's typed actions, and the privacy layer's (partner deny, mail,
incident notices, the first privacy notice), store exactly what the dictionaries before
them stored.

Each case is a payload as the code before the typed classes wrote it (a literal, copied
from that code): it must structure into its kind's class, so rows queued before an
upgrade still run, and queueing that value again must write the same dictionary. Each
result is what an executor returned and its done hook read.
"""

from __future__ import annotations

from typing import Any

from bridge.commands.optout import FIRST_NOTICE, FirstNotice, FirstNoticeSent
from bridge.pipeline.actions import converter
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy.erasure_kinds import (
    Cleaning,
    Delivery,
    DeliveryObserved,
    GhostScrub,
    MediaDelete,
    MediaDeleted,
    Notice,
    NoticeSent,
    RCClean,
    RCCleaned,
    RCDelete,
    RCDeleted,
    RedactionSent,
    RedactItem,
    ShadowScrub,
    ShadowScrubbed,
    StepDone,
)
from bridge.privacy.incident_run import (
    INCIDENT_NOTIFY,
    IncidentNotified,
    IncidentNotify,
    notify_action,
)
from bridge.privacy.mail import MAIL_SEND, MailSend, MailSent, mail_action
from bridge.privacy.notices import NoticeContent
from bridge.privacy.partner_gate import PARTNER_ENFORCE, Enforced, EnforceDeny, enforce_action

# (kind, payload as the dictionary code wrote it, the typed value it stands for)
CASES: list[tuple[str, dict[str, Any], object]] = [
    (kinds.REDACT, {"request_id": "r1", "disclosure_id": 7}, RedactItem("r1", 7)),
    (
        kinds.RC_DELETE,
        {"request_id": "r1", "rc_room_id": "GENERAL", "rc_message_id": "m1"},
        RCDelete("r1", "GENERAL", "m1"),
    ),
    (kinds.RC_CLEAN, {"request_id": "r1", "rc_room_id": "GENERAL"}, RCClean("r1", "GENERAL")),
    (
        kinds.RC_CLEAN,  # with what its executor needs (bridge.privacy.erasure_inputs_rc)
        {
            "request_id": "r1",
            "rc_room_id": "GENERAL",
            "inputs": {"username": "frank", "before_ms": None},
        },
        RCClean("r1", "GENERAL", Cleaning("frank")),
    ),
    (
        kinds.GHOST_SCRUB,
        {"request_id": "r1", "step": "ghost_profile"},
        GhostScrub("r1", "ghost_profile"),
    ),
    (kinds.MEDIA, {"request_id": "r1", "step": "media"}, MediaDelete("r1", "media")),
    (
        kinds.SHADOW_SCRUB,
        {"request_id": "r1", "step": "shadow_profile"},
        ShadowScrub("r1", "shadow_profile"),
    ),
    (
        kinds.SHADOW_SCRUB,
        {"request_id": "r1", "step": "shadow_profile", "matrix_user_id": "@a:hs2"},
        ShadowScrub("r1", "shadow_profile", "@a:hs2"),
    ),
    (kinds.NOTICE, {"request_id": "r1", "server": "hs2"}, Notice("r1", "hs2")),
    # The same kinds as the privacy layer now queues them, with their executors' inputs.
    (
        kinds.REDACT,
        {
            "request_id": "r1",
            "disclosure_id": 7,
            "room_id": "!r:hs1",
            "event_id": "$e",
            "redactor": "@rc_alice:hs1",
        },
        RedactItem("r1", 7, "!r:hs1", "$e", "@rc_alice:hs1"),
    ),
    (
        kinds.GHOST_SCRUB,
        {
            "request_id": "r1",
            "step": "ghost_profile",
            "ghost": "@rc_alice:hs1",
            "personas": ["@rc_fox:hs1"],
        },
        GhostScrub("r1", "ghost_profile", "@rc_alice:hs1", ("@rc_fox:hs1",)),
    ),
    (
        kinds.GHOST_SCRUB,  # no personas
        {"request_id": "r1", "step": "ghost_profile", "ghost": "@rc_alice:hs1"},
        GhostScrub("r1", "ghost_profile", "@rc_alice:hs1"),
    ),
    (
        kinds.MEDIA,
        {"request_id": "r1", "step": "media", "ghost": "@rc_alice:hs1", "before_ms": 5},
        MediaDelete("r1", "media", "@rc_alice:hs1", 5),
    ),
    (
        kinds.MEDIA,  # no scope in time
        {"request_id": "r1", "step": "media", "ghost": "@rc_alice:hs1"},
        MediaDelete("r1", "media", "@rc_alice:hs1"),
    ),
    (
        kinds.NOTICE,
        {
            "request_id": "r1",
            "server": "hs2",
            "content": {
                "request_id": "r1",
                "deadline_ms": 1_800_000_000_000,
                "rooms": {"!r:hs1": ["$e1", "$e2"]},
                "media": ["mxc://hs1/a"],
                "subject": "pseudonym:ab",
                "legal_basis": "GDPR Art. 17(2)",
            },
        },
        Notice(
            "r1",
            "hs2",
            NoticeContent(
                "r1",
                1_800_000_000_000,
                {"!r:hs1": ("$e1", "$e2")},
                ("mxc://hs1/a",),
                "pseudonym:ab",
            ),
        ),
    ),
    (
        kinds.DELIVERY,
        {"request_id": "r1", "server": "hs2", "deadline_ms": 1_800_000_000_000},
        Delivery("r1", "hs2", 1_800_000_000_000),
    ),
    (
        kinds.DELIVERY,
        {
            "request_id": "r1",
            "server": "hs2",
            "deadline_ms": 1_800_000_000_000,
            "rooms": ["!a:hs1", "!b:hs1"],
            "check": 3,
        },
        Delivery("r1", "hs2", 1_800_000_000_000, ("!a:hs1", "!b:hs1"), 3),
    ),
    (
        kinds.DELIVERY,
        {"request_id": "r1", "server": "hs2", "deadline_ms": 1_800_000_000_000, "rooms": []},
        Delivery("r1", "hs2", 1_800_000_000_000, ()),
    ),
    (PARTNER_ENFORCE, {"room_id": "!r:hs", "server": "hs2"}, EnforceDeny("!r:hs", "hs2")),
    (
        MAIL_SEND,
        {
            "to": "dpo@hs2.example",
            "subject": "Erasure request r1",
            "text": "words",
            "request_id": "r1",
            "server": "hs2",
        },
        MailSend("dpo@hs2.example", "Erasure request r1", "words", "r1", "hs2"),
    ),
    (
        MAIL_SEND,  # an incident's mail: no erasure notice behind it
        {
            "to": "dpo@hs2.example",
            "subject": "s",
            "text": "t",
            "request_id": None,
            "server": None,
        },
        MailSend("dpo@hs2.example", "s", "t"),
    ),
    (
        INCIDENT_NOTIFY,
        {"side": "rocketchat", "user_id": "u1", "username": "alice", "text": "hello"},
        IncidentNotify("rocketchat", "u1", "alice", "hello"),
    ),
    (
        INCIDENT_NOTIFY,
        {"side": "matrix", "user_id": "@a:hs2", "username": None, "text": "hello"},
        IncidentNotify("matrix", "@a:hs2", None, "hello"),
    ),
    (
        FIRST_NOTICE,
        {"side": "rocketchat", "user_id": "u1", "username": "alice", "recipients": "hs2"},
        FirstNotice("rocketchat", "u1", "alice", "hs2"),
    ),
    (
        FIRST_NOTICE,
        {"side": "matrix", "user_id": "@a:hs", "username": None, "recipients": "hs1, hs2"},
        FirstNotice("matrix", "@a:hs", None, "hs1, hs2"),
    ),
]

# Payloads an older version wrote with fewer keys.
OLDER: list[tuple[str, dict[str, Any], object]] = [
    (
        FIRST_NOTICE,  # before the notice named the room's recipients
        {"side": "matrix", "user_id": "@a:hs", "username": None},
        FirstNotice("matrix", "@a:hs"),
    ),
]

# (result as the dictionary code returned it, its class, the typed value)
RESULTS: list[tuple[dict[str, Any], type, object]] = [
    ({"redaction_id": "$x"}, RedactionSent, RedactionSent("$x")),
    ({"outcome": "deleted"}, RCDeleted, RCDeleted("deleted")),
    ({"outcome": "hidden"}, RCDeleted, RCDeleted("hidden")),
    ({"count": 12}, RCCleaned, RCCleaned(12)),
    ({"detail": "no ghost"}, StepDone, StepDone("no ghost")),
    (
        {"detail": "1 file(s) deleted from the media store", "media": ["mxc://hs1/a"]},
        MediaDeleted,
        MediaDeleted("1 file(s) deleted from the media store", ("mxc://hs1/a",)),
    ),
    ({"detail": "no ghost, no media"}, MediaDeleted, MediaDeleted("no ghost, no media")),
    (
        {"matrix_user_id": "@a:hs", "rc_username": "deleted-abc", "detail": "replaced"},
        ShadowScrubbed,
        ShadowScrubbed("@a:hs", "deleted-abc", "replaced"),
    ),
    ({"detail": "no shadow account"}, ShadowScrubbed, ShadowScrubbed(detail="no shadow account")),
    (
        {"contacts": [], "reason": "no contact published"},
        NoticeSent,
        NoticeSent((), reason="no contact published"),
    ),
    (
        {
            "contacts": ["@admin:hs2"],
            "source": "well-known",
            "rooms": {"@admin:hs2": "!dm:hs1"},
            "mail_queued": 1,
        },
        NoticeSent,
        NoticeSent(("@admin:hs2",), "well-known", {"@admin:hs2": "!dm:hs1"}, mail_queued=1),
    ),
    (
        {
            "contacts": ["@admin:hs2"],
            "source": "register",
            "rooms": {"@admin:hs2": "!dm:hs1"},
            "mail": "no mail server configured (mail.host)",
        },
        NoticeSent,
        NoticeSent(
            ("@admin:hs2",),
            "register",
            {"@admin:hs2": "!dm:hs1"},
            mail="no mail server configured (mail.host)",
        ),
    ),
    ({"delivered": ["!r:hs1"]}, DeliveryObserved, DeliveryObserved(("!r:hs1",))),
    (
        {"delivered": [], "unconfirmed": ["!r:hs1"]},
        DeliveryObserved,
        DeliveryObserved((), ("!r:hs1",)),
    ),
    (
        {"delivered": ["!a:hs1"], "pending": ["!r:hs1"], "failure_ts": 1_700_000_000_000},
        DeliveryObserved,
        DeliveryObserved(("!a:hs1",), pending=("!r:hs1",), failure_ts=1_700_000_000_000),
    ),
    (
        {"delivered": [], "pending": ["!r:hs1"]},
        DeliveryObserved,
        DeliveryObserved((), (), ("!r:hs1",)),
    ),
    (
        {"room_id": "!r:hs", "acl": "not permitted", "kicked": 0},
        Enforced,
        Enforced("!r:hs", "not permitted", 0),
    ),
    ({"room_id": "!r:hs", "acl": "set", "kicked": 2}, Enforced, Enforced("!r:hs", "set", 2)),
    ({"sent": True}, MailSent, MailSent()),
    (
        {"room_id": "!dm:hs", "side": "matrix"},
        IncidentNotified,
        IncidentNotified("!dm:hs", "matrix"),
    ),
    ({"room_id": "!dm:hs"}, FirstNoticeSent, FirstNoticeSent("!dm:hs")),
]


def test_a_result_an_executor_never_filled_reads_as_nothing_done() -> None:
    """A hook given no result (an executor that returned nothing) reads the defaults:
    no redaction id, no contacts, nothing delivered, no shadow renamed."""
    assert converter.structure({}, RedactionSent) == RedactionSent(None)
    assert converter.structure({}, NoticeSent) == NoticeSent()
    assert converter.structure({}, DeliveryObserved) == DeliveryObserved()
    assert converter.structure({}, ShadowScrubbed).matrix_user_id is None


def test_the_queueing_helpers_write_what_the_hand_written_actions_did() -> None:
    enforce = enforce_action("!r:hs", "hs2", 3)
    assert (enforce.kind, enforce.payload) == (
        "partner.enforce",
        {"room_id": "!r:hs", "server": "hs2"},
    )
    mail = mail_action("incident:i1", "dpo@hs2.example", "s", "t")
    assert (mail.kind, mail.payload) == (
        "mail.send",
        {"to": "dpo@hs2.example", "subject": "s", "text": "t", "request_id": None, "server": None},
    )
    notify = notify_action("i1", "person", "rocketchat", "u1", "alice", "hello")
    assert (notify.kind, notify.payload) == (
        "incident.notify",
        {"side": "rocketchat", "user_id": "u1", "username": "alice", "text": "hello"},
    )
