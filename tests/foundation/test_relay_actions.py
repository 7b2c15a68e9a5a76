"""The relay's typed actions store exactly what the dictionaries before them stored.

Each case is a payload as the code before the typed classes wrote it (a literal, copied
from that code): it must structure into its kind's class, so rows queued before an
upgrade still run, and queueing that value again must write the same dictionary, so a
row queued now reads the same to any code that still looks at the stored JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.bridging.action_values import (
    CreatePortal,
    Disclosure,
    EnsureShadow,
    EventRef,
    GhostMembership,
    GhostProfile,
    GhostScrubbed,
    MatrixRedact,
    MatrixSend,
    MatrixSent,
    MatrixUpload,
    MemberState,
    MessageRecord,
    NoResult,
    PortalCreated,
    PostRecord,
    ProfileSet,
    RCDelete,
    RCReact,
    RCSend,
    RCSent,
    RCUpdate,
    RCUpload,
    ReactionRecord,
    Redacted,
    Render,
    ResolvedUser,
    ResolveUser,
    RoomSeed,
    ScrubGhost,
    SeedLedger,
    SentAs,
    ShadowJoin,
    ShadowKick,
    ShadowReady,
    StoredPersona,
    Subject,
)
from bridge.bridging.matrix_content import Content, FileInfo, InReplyTo, Mentions, Relation
from bridge.bridging.redactions import CHECK, CheckRedaction, RedactPower
from bridge.commands.bridge_admin import Link, LinkResult
from bridge.commands.context import CommandContext
from bridge.commands.dm import CLASSIFY, Classified, Classify
from bridge.matrix.handlers import JOIN_ROOM, Joined, JoinRoom
from bridge.pipeline import kinds
from bridge.pipeline.actions import KINDS, converter, typed
from bridge.pipeline.contracts import PermanentFailure
from bridge.pipeline.keys import reply_queue
from bridge.privacy.rc_deletions import ACCOUNT_DELETED, AccountDeleted, DeletionHandled
from bridge.storage.outbox import Action
from bridge.workers.retention import SET_RETENTION, RetentionSet, SetRetention

# (kind, payload as the dictionary code wrote it, the typed value it stands for)
CASES: list[tuple[str, dict[str, Any], object]] = [
    (
        kinds.MATRIX_NOTICE,
        {"room_id": "!r:hs", "text": "Linked general to this room."},
        kinds.MatrixNotice("!r:hs", "Linked general to this room."),
    ),
    (
        kinds.RC_NOTICE,
        {"room_id": "GENERAL", "text": "Not bridged."},
        kinds.RCNotice("GENERAL", "Not bridged."),
    ),
    (JOIN_ROOM, {"room_id": "!r:hs"}, JoinRoom("!r:hs")),
    (
        CLASSIFY,
        {
            "ctx": {  # dataclasses.asdict(ctx)
                "side": "matrix",
                "sender": "@a:hs",
                "sender_name": "@a:hs",
                "room_id": "!dm:hs",
                "event_id": "$cmd",
                "is_direct": False,
                "in_portal": False,
            },
            "body": "!privacy status",
        },
        Classify(
            CommandContext("matrix", "@a:hs", "@a:hs", "!dm:hs", "$cmd", False), "!privacy status"
        ),
    ),
    (
        kinds.BRIDGE_LINK,
        {
            "rc_room": "general",
            "matrix_room_id": None,
            "requester": "@admin:hs",
            "reply_room": "!admin:hs",
            "command_event": "$link",
        },
        Link("general", None, "@admin:hs", "!admin:hs", "$link"),
    ),
    (
        kinds.CREATE_PORTAL,
        {
            "portal_id": 4,
            "rc_room_id": "GENERAL",
            "name": "general",
            "topic": None,
            "alias_localpart": "rc_GENERAL",
            "history_visibility": "joined",
            "invitees": ["@admin:hs"],
        },
        CreatePortal(4, "GENERAL", "rc_GENERAL", "joined", "general", None, ("@admin:hs",)),
    ),
    (
        kinds.MATRIX_SEED,
        {"portal_id": 4, "room_id": "!r:hs", "rc_room_id": "GENERAL"},
        SeedLedger(4, "!r:hs", "GENERAL"),
    ),
    (
        kinds.RC_RESOLVE_USER,
        {"portal_id": 4, "username": "alice", "membership": "join", "message_id": "m1"},
        ResolveUser(4, "alice", "join", "m1"),
    ),
    (  # rc_to_matrix: in the portal's queue, ahead of the ghost's message
        kinds.MATRIX_PROFILE,
        {
            "user_id": "@rc_alice:hs",
            "rc_user_id": "u1",
            "rc_username": "alice",
            "display_name": "Alice",
            "portal_id": 4,
            "avatar_url": None,
            "avatar_hash": None,
        },
        GhostProfile("@rc_alice:hs", "u1", "Alice", "alice", portal_id=4),
    ),
    (  # rc_people: a profile change, in the ghost's own queue (no portal_id key)
        kinds.MATRIX_PROFILE,
        {
            "user_id": "@rc_alice:hs",
            "rc_user_id": "u1",
            "rc_username": "alice2",
            "display_name": "Alice B",
            "avatar_url": "mxc://hs/a",
            "avatar_hash": "ab",
        },
        GhostProfile("@rc_alice:hs", "u1", "Alice B", "alice2", "mxc://hs/a", "ab"),
    ),
    (kinds.RC_SHADOW, {"user_id": "@a:hs", "portal_id": 4}, EnsureShadow("@a:hs", 4)),
    (
        kinds.RC_JOIN,
        {"user_id": "@a:hs", "rc_room_id": "GENERAL", "rc_room_type": "c"},
        ShadowJoin("@a:hs", "GENERAL", "c"),
    ),
    (
        kinds.RC_KICK,
        {"user_id": "@a:hs", "rc_room_id": "G2", "rc_room_type": "p"},
        ShadowKick("@a:hs", "G2", "p"),
    ),
    (  # rc_to_matrix._send: a message naming a Rocket.Chat person and a Matrix user
        kinds.MATRIX_SEND,
        {
            "portal_id": 4,
            "sender": "@rc_alice:hs",
            "event_type": "m.room.message",
            "content": {"msgtype": "m.text", "body": "hi bob", "m.mentions": {"user_ids": []}},
            "disclosure": {
                "subject": {"rc_user_id": "u1", "rc_username": "alice"},
                "origin": "ROCKETCHAT",
                "categories": 1,
                "rc_message_id": "m1",
                "content": "hi @bob @carol",
                "mentions": [
                    {"rc_user_id": "u2", "rc_username": "bob"},
                    {"matrix_user_id": "@carol:hs"},
                ],
            },
            "record": {
                "rc_message_id": "m1",
                "part": 0,
                "origin": "rc",
                "sender": "u1",
                "sent_ms": 1000,
                "rc_thread_id": None,
            },
            "render": {
                "text": "hi @bob @carol",
                "targets": {"bob": ["@rc_bob:hs", "Bob", "u2"], "carol": ["@carol:hs", "C", None]},
            },
        },
        MatrixSend(
            4,
            "@rc_alice:hs",
            "m.room.message",
            Content(msgtype="m.text", body="hi bob", mentions=Mentions(())),
            MessageRecord("m1", 0, "rc", "u1", 1000),
            Disclosure(
                Subject(rc_user_id="u1", rc_username="alice"),
                "ROCKETCHAT",
                1,
                "hi @bob @carol",
                "m1",
                (Subject(rc_user_id="u2", rc_username="bob"), Subject("@carol:hs")),
            ),
            render=Render(
                "hi @bob @carol",
                {"bob": ("@rc_bob:hs", "Bob", "u2"), "carol": ("@carol:hs", "C", None)},
            ),
        ),
    ),
    (  # a file: no render, no mentions
        kinds.MATRIX_UPLOAD,
        {
            "portal_id": 4,
            "sender": "@rc_alice:hs",
            "event_type": "m.room.message",
            "content": {"msgtype": "m.file", "body": "a.pdf", "rc_file_url": "/file-upload/f/a"},
            "disclosure": {
                "subject": {"rc_user_id": "u1", "rc_username": "alice"},
                "origin": "ROCKETCHAT",
                "categories": 6,
                "rc_message_id": "m1",
                "content": "a.pdf",
                "mentions": [],
            },
            "record": {
                "rc_message_id": "m1",
                "part": 1,
                "origin": "rc",
                "sender": "u1",
                "sent_ms": 1000,
                "rc_thread_id": "t1",
            },
        },
        MatrixUpload(
            4,
            "@rc_alice:hs",
            "m.room.message",
            Content(msgtype="m.file", body="a.pdf", rc_file_url="/file-upload/f/a"),
            MessageRecord("m1", 1, "rc", "u1", 1000, "t1"),
            Disclosure(
                Subject(rc_user_id="u1", rc_username="alice"), "ROCKETCHAT", 6, "a.pdf", "m1", ()
            ),
        ),
    ),
    (  # rc_to_matrix._react
        kinds.MATRIX_SEND,
        {
            "portal_id": 4,
            "sender": "@rc_bob:hs",
            "event_type": "m.reaction",
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$e", "key": "x"}},
            "record": None,
            "disclosure": {
                "subject": {"rc_user_id": "u2", "rc_username": "bob"},
                "origin": "ROCKETCHAT",
                "categories": 8,
                "rc_message_id": "m1",
                "content": ":x:",
            },
            "reaction": {"rc_message_id": "m1", "emoji": ":x:", "sender": "bob", "origin": "rc"},
        },
        MatrixSend(
            4,
            "@rc_bob:hs",
            "m.reaction",
            Content(relates_to=Relation("m.annotation", "$e", "x")),
            None,
            Disclosure(Subject(rc_user_id="u2", rc_username="bob"), "ROCKETCHAT", 8, ":x:", "m1"),
            ReactionRecord("m1", ":x:", "bob", "rc"),
        ),
    ),
    (  # rc_to_matrix._redact
        kinds.MATRIX_REDACT,
        {
            "portal_id": 4,
            "sender": "@rc_alice:hs",
            "event_id": "$e",
            "reason": "deleted on Rocket.Chat",
            "rc_message_id": "m1",
        },
        MatrixRedact(4, "@rc_alice:hs", "$e", "deleted on Rocket.Chat", "m1"),
    ),
    (  # rc_to_matrix._unreact
        kinds.MATRIX_REDACT,
        {
            "portal_id": 4,
            "sender": "@rc_bob:hs",
            "event_id": "$r",
            "reason": "reaction removed on Rocket.Chat",
            "reaction": True,
        },
        MatrixRedact(4, "@rc_bob:hs", "$r", "reaction removed on Rocket.Chat", reaction=True),
    ),
    (
        kinds.MATRIX_MEMBERSHIP,
        {"portal_id": 4, "user_id": "@rc_alice:hs", "membership": "leave"},
        GhostMembership(4, "@rc_alice:hs", "leave"),
    ),
    (  # matrix_to_rc._message: a text, mentioning a ghost and a Matrix user
        kinds.RC_SEND,
        {
            "portal_id": 4,
            "rc_room_id": "GENERAL",
            "rc_message_id": "derived1",
            "sender": "@a:hs",
            "thread_id": "t1",
            "record": {"matrix_event_id": "$m", "sent_ms": 1000, "rc_thread_id": "t1"},
            "text": "hi @bob",
            "disclosure": {
                "subject": {"matrix_user_id": "@a:hs"},
                "origin": "MATRIX",
                "categories": 1,
                "content": "hi bob",
                "mentions": [
                    {"rc_user_id": "u2", "rc_username": "bob"},
                    {"matrix_user_id": "@c:hs"},
                ],
            },
        },
        RCSend(
            4,
            "GENERAL",
            "derived1",
            "@a:hs",
            "t1",
            PostRecord("$m", 1000, "t1"),
            "hi @bob",
            disclosure=Disclosure(
                Subject("@a:hs"),
                "MATRIX",
                1,
                "hi bob",
                mentions=(Subject(rc_user_id="u2", rc_username="bob"), Subject("@c:hs")),
            ),
        ),
    ),
    (  # matrix_to_rc._message: a file
        kinds.RC_UPLOAD,
        {
            "portal_id": 4,
            "rc_room_id": "GENERAL",
            "rc_message_id": "derived2",
            "sender": "@a:hs",
            "thread_id": None,
            "record": {"matrix_event_id": "$f", "sent_ms": 1000, "rc_thread_id": None},
            "mxc": "mxc://hs/f",
            "filename": "a.pdf",
            "mimetype": "application/pdf",
            "size": 12,
            "disclosure": {
                "subject": {"matrix_user_id": "@a:hs"},
                "origin": "MATRIX",
                "categories": 6,
                "content": "a.pdf",
                "mentions": [],
            },
        },
        RCUpload(
            4,
            "GENERAL",
            "derived2",
            "@a:hs",
            None,
            PostRecord("$f", 1000, None),
            "a.pdf",
            "mxc://hs/f",
            "application/pdf",
            12,
            disclosure=Disclosure(Subject("@a:hs"), "MATRIX", 6, "a.pdf", mentions=()),
        ),
    ),
    (  # matrix_to_rc._edit
        kinds.RC_UPDATE,
        {
            "portal_id": 4,
            "rc_room_id": "GENERAL",
            "rc_message_id": "derived1",
            "sender": "@a:hs",
            "text": "hi again",
            "record": {"matrix_event_id": "$edit"},
            "disclosure": {
                "subject": {"matrix_user_id": "@a:hs"},
                "origin": "MATRIX",
                "categories": 17,
                "content": "hi again",
                "mentions": [],
            },
        },
        RCUpdate(
            4,
            "GENERAL",
            "derived1",
            "@a:hs",
            "hi again",
            EventRef("$edit"),
            Disclosure(Subject("@a:hs"), "MATRIX", 17, "hi again", mentions=()),
        ),
    ),
    (  # matrix_to_rc._redaction: the author's own
        kinds.RC_DELETE,
        {
            "rc_room_id": "GENERAL",
            "rc_message_id": "derived1",
            "as_shadow": True,
            "sender": "@a:hs",
        },
        RCDelete("GENERAL", "derived1", True, "@a:hs"),
    ),
    (  # matrix_to_rc._react_action: added
        kinds.RC_REACT,
        {
            "portal_id": 4,
            "rc_message_id": "m1",
            "emoji": ":tada:",
            "sender": "@a:hs",
            "should_react": True,
            "matrix_event_id": "$r",
            "record": {"matrix_event_id": "$r"},
            "disclosure": {
                "subject": {"matrix_user_id": "@a:hs"},
                "origin": "MATRIX",
                "categories": 8,
                "content": ":tada:",
                "mentions": [],
            },
        },
        RCReact(
            4,
            "m1",
            ":tada:",
            "@a:hs",
            True,
            "$r",
            EventRef("$r"),
            Disclosure(Subject("@a:hs"), "MATRIX", 8, ":tada:", mentions=()),
        ),
    ),
    (  # matrix_to_rc._react_action: taken away by redacting the reaction
        kinds.RC_REACT,
        {
            "portal_id": 4,
            "rc_message_id": "m1",
            "emoji": ":tada:",
            "sender": "@a:hs",
            "should_react": False,
            "matrix_event_id": "$r",
            "record": {"matrix_event_id": "$redaction"},
            "disclosure": None,
        },
        RCReact(4, "m1", ":tada:", "@a:hs", False, "$r", EventRef("$redaction")),
    ),
    (  # redactions.check_action: a moderator's redaction
        CHECK,
        {
            "room_id": "!r:hs",
            "sender": "@mod:hs",
            "redacts": "$m",
            "delete": {
                "rc_room_id": "GENERAL",
                "rc_message_id": "derived1",
                "as_shadow": False,
                "sender": "@mod:hs",
            },
        },
        CheckRedaction("!r:hs", "@mod:hs", "$m", RCDelete("GENERAL", "derived1", False, "@mod:hs")),
    ),
    (  # retention.set_retention_action
        SET_RETENTION,
        {"room_id": "!r:hs", "content": {"max_lifetime": 86400000}},
        SetRetention("!r:hs", {"max_lifetime": 86400000}),
    ),
    (SET_RETENTION, {"room_id": "!r:hs", "content": {}}, SetRetention("!r:hs", {})),
    (  # rc_people._deleted: Unlink
        kinds.PROFILE_SCRUB,
        {
            "user_id": "@rc_alice:hs",
            "display_name": "Removed User",
            "avatar_of": "rocket.cat",
            "personas": ["@rc_=p1:hs"],
        },
        ScrubGhost("@rc_alice:hs", "Removed User", "rocket.cat", ("@rc_=p1:hs",)),
    ),
    (  # rc_people._deleted: Keep
        kinds.PROFILE_SCRUB,
        {"user_id": "@rc_alice:hs", "display_name": "Alice", "avatar_of": None, "personas": []},
        ScrubGhost("@rc_alice:hs", "Alice", None),
    ),
    (ACCOUNT_DELETED, {"rc_user_id": "u1"}, AccountDeleted("u1")),
]

# (Matrix content as the dictionary code wrote it, the typed value it stands for)
CONTENTS: list[tuple[dict[str, Any], Content]] = [
    (  # minimise.message_content, in a thread (rc_to_matrix._thread_relation)
        {
            "msgtype": "m.text",
            "body": "hi Bob",
            "format": "org.matrix.custom.html",
            "formatted_body": "hi <a href='https://matrix.to/#/@rc_bob:hs'>Bob</a>",
            "m.mentions": {"user_ids": ["@rc_bob:hs"]},
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": "$root"},
            },
        },
        Content(
            msgtype="m.text",
            body="hi Bob",
            format="org.matrix.custom.html",
            formatted_body="hi <a href='https://matrix.to/#/@rc_bob:hs'>Bob</a>",
            mentions=Mentions(("@rc_bob:hs",)),
            relates_to=Relation("m.thread", "$root", None, True, InReplyTo("$root")),
        ),
    ),
    (  # rc_to_matrix._edited
        {
            "msgtype": "m.text",
            "body": "* fixed",
            "m.new_content": {"msgtype": "m.text", "body": "fixed", "m.mentions": {"user_ids": []}},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$e"},
        },
        Content(
            msgtype="m.text",
            body="* fixed",
            new_content=Content(msgtype="m.text", body="fixed", mentions=Mentions(())),
            relates_to=Relation("m.replace", "$e"),
        ),
    ),
    (  # minimise._as_reply
        {
            "msgtype": "m.text",
            "body": "* fixed",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$e"}},
        },
        Content(msgtype="m.text", body="* fixed", relates_to=Relation(in_reply_to=InReplyTo("$e"))),
    ),
    (  # an older attachment, with its kind
        {
            "msgtype": "m.file",
            "body": "a",
            "rc_file_url": "/file-upload/f/a",
            "rc_file_type": "file",
        },
        Content(msgtype="m.file", body="a", rc_file_url="/file-upload/f/a", rc_file_type="file"),
    ),
    (  # the executor's copy of a file, as it is sent
        {
            "msgtype": "m.image",
            "body": "a.png",
            "url": "mxc://hs/m",
            "info": {"mimetype": "image/png", "size": 3},
        },
        Content(msgtype="m.image", body="a.png", url="mxc://hs/m", info=FileInfo("image/png", 3)),
    ),
]

# Payloads an older version wrote with fewer keys: they still run.
OLDER: list[tuple[str, dict[str, Any], object]] = [
    (
        kinds.CREATE_PORTAL,
        {
            "portal_id": 4,
            "rc_room_id": "GENERAL",
            "alias_localpart": "rc_GENERAL",
            "history_visibility": "shared",
        },
        CreatePortal(4, "GENERAL", "rc_GENERAL", "shared"),
    ),
    (kinds.RC_SHADOW, {"user_id": "@a:hs"}, EnsureShadow("@a:hs")),
]

# (result as the dictionary code returned it, its class, the typed value)
RESULTS: list[tuple[dict[str, Any], type, object]] = [
    ({"event_id": "$n"}, kinds.NoticeSent, kinds.NoticeSent("$n")),
    ({"rc_message_id": "m1"}, kinds.RCNoticeSent, kinds.RCNoticeSent("m1")),
    ({"room_id": "!r:hs"}, Joined, Joined("!r:hs")),
    ({"is_dm": True}, Classified, Classified(True)),
    ({"error": "no such room"}, LinkResult, LinkResult(error="no such room")),
    (
        {"portal_id": 3, "rc_room_id": "GENERAL", "name": "general"},
        LinkResult,
        LinkResult(portal_id=3, rc_room_id="GENERAL", name="general"),
    ),
    (
        {"room_id": "!r:hs", "creator": "@bot:hs", "created_ms": 5},
        PortalCreated,
        PortalCreated("!r:hs", "@bot:hs", 5),
    ),
    (
        {
            "room_id": "!r:hs",
            "members": [{"user_id": "@a:hs", "membership": "leave", "ts": 3}],
            "visibility": "shared",
            "visibility_ts": 2,
            "encrypted": False,
        },
        RoomSeed,
        RoomSeed("!r:hs", (MemberState("@a:hs", "leave", 3),), "shared", 2, False),
    ),
    (
        {"rc_user_id": "u1", "username": "alice", "name": None},
        ResolvedUser,
        ResolvedUser("u1", "alice", None),
    ),
    (
        {"rooms": ["!r:hs"], "avatar_url": None, "avatar_hash": None, "avatar_changed": False},
        ProfileSet,
        ProfileSet(("!r:hs",)),
    ),
    (
        {
            "matrix_user_id": "@a:hs",
            "rc_user_id": "s1",
            "rc_username": "mx_a",
            "display_name": "A",
            "auth_token": "t",
        },
        ShadowReady,
        ShadowReady("@a:hs", "s1", "mx_a", "A", "t"),
    ),
    (
        {"event_id": "$e", "room_id": "!r:hs", "ghost_joined": True},
        MatrixSent,
        MatrixSent("$e", "!r:hs", True),
    ),
    (
        {
            "event_id": "$e",
            "room_id": "!r:hs",
            "ghost_joined": False,
            "persona": {
                "matrix_user_id": "@rc_=p1:hs",
                "rc_user_id": "u1",
                "display_name": "P1",
                "named_ms": 7,
            },
            "mentioned_personas": [],
            "minimised": True,
        },
        MatrixSent,
        MatrixSent(
            "$e", "!r:hs", False, StoredPersona("@rc_=p1:hs", "u1", "P1", 7), (), minimised=True
        ),
    ),
    (
        {"event_id": "$e", "room_id": "!r:hs", "ghost_joined": False, "refused": "too large"},
        MatrixSent,
        MatrixSent("$e", "!r:hs", refused="too large"),
    ),
    ({}, SentAs, SentAs()),
    ({"redaction_id": "$x"}, Redacted, Redacted("$x")),
    ({"rc_message_id": "m1", "existing": False}, RCSent, RCSent("m1")),
    (
        {"rc_message_id": "m1", "existing": True, "refused": "too large"},
        RCSent,
        RCSent("m1", True, "too large"),
    ),
    ({"allowed": False, "level": 0, "needed": 50}, RedactPower, RedactPower(False, 0, 50)),
    ({}, NoResult, NoResult()),
    (
        {"room_id": "!r:hs", "content": {"max_lifetime": 5}, "set": True},
        RetentionSet,
        RetentionSet("!r:hs", {"max_lifetime": 5}, set=True),
    ),
    ({"rooms_left": 3, "avatar": False}, GhostScrubbed, GhostScrubbed(3, False)),
    ({"request_id": "r1"}, DeletionHandled, DeletionHandled("r1")),
    (
        {"detail": "nothing of this person was bridged"},
        DeletionHandled,
        DeletionHandled(detail="nothing of this person was bridged"),
    ),
]


def test_the_notice_helper_writes_what_the_hand_written_notices_did() -> None:
    matrix = kinds.notice("matrix", "reply:$cmd:0", "!dm:hs", "hello")
    assert (matrix.key, matrix.kind, matrix.queue, matrix.payload) == (
        "reply:$cmd:0",
        "matrix.notice",
        reply_queue("matrix", "!dm:hs"),
        {"room_id": "!dm:hs", "text": "hello"},
    )
    rc = kinds.notice("rocketchat", "optout-mx:$e", "GENERAL", "no")
    assert (rc.kind, rc.queue, rc.payload) == (
        "rc.notice",
        reply_queue("rocketchat", "GENERAL"),
        {"room_id": "GENERAL", "text": "no"},
    )


@pytest.mark.parametrize(("old", "value"), CONTENTS, ids=[str(i) for i in range(len(CONTENTS))])
def test_matrix_content_reads_as_its_class_and_is_written_again_unchanged(
    old: dict[str, Any], value: Content
) -> None:
    assert converter.structure(old, Content) == value
    assert json.loads(json.dumps(value.json())) == old


# Payloads that cannot be what their kind's producer wrote: refused for good, not retried.
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    (kinds.RC_SEND, {"rc_room_id": "GENERAL", "rc_message_id": "m", "sender": "@a:hs"}),
    (kinds.RC_UPLOAD, {"portal_id": "four", "rc_room_id": "GENERAL"}),
    (kinds.RC_UPDATE, {"portal_id": 4, "text": "x"}),
    (kinds.RC_DELETE, {"rc_room_id": "GENERAL", "rc_message_id": "m"}),
    (kinds.RC_REACT, {"portal_id": 4, "rc_message_id": "m", "emoji": ":x:", "record": 3}),
    (CHECK, {"room_id": "!r:hs", "sender": "@a:hs", "redacts": "$m", "delete": {}}),
    (SET_RETENTION, {"room_id": "!r:hs", "content": {"max_lifetime": "a day"}}),
    (kinds.PROFILE_SCRUB, {"user_id": "@rc_alice:hs", "avatar_of": None}),
    (ACCOUNT_DELETED, {}),
    (
        kinds.MATRIX_SEND,
        {
            "portal_id": 4,
            "sender": "@g:hs",
            "event_type": "m.room.message",
            "content": {"info": {"mimetype": "image/png"}},  # a file without its size
        },
    ),
]


@pytest.mark.parametrize(("kind", "payload"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_payload_that_does_not_fit_its_kind_fails_for_good(
    kind: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(PermanentFailure, match=f"malformed {kind} payload"):
        typed(Action(1, "k", kind, "q", payload, 0), KINDS[kind])
