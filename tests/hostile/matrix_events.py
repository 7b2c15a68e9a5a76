"""Hypothesis strategies for appservice transactions: events labelled good or bad.

Every generated event says what the bridge must do with it, by construction: a *good*
event is well-formed (relevant or not) and must end ``done``; a *bad* one carries exactly
one defect (malformed, oversized, of the wrong type) and must end ``skipped`` with a
reason. The oracle is
built from the mutation applied, never from the code under test.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

PORTAL_ROOM = "!portal:hs1.test"
OTHER_ROOM = "!elsewhere:hs2.test"
BOT = "@bridgebot:hs1.test"
MARK = "x.fuzz.n"  # an int on every generated event: which generated event a row is

_counter = itertools.count()

# Unicode edge cases that are *valid* text: RTL/LTR overrides, zero-width and joiner
# characters, a BOM, combining marks, astral emoji, noncharacters and C1 controls.
EDGE_CHARS = "\u202e\u202d\u2066\u200b\u200d\ufeff\u0301\U0001f600\U0001f3f3\ufe0f\uffff\x85\x1b"
clean_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    | st.sampled_from(EDGE_CHARS),
    max_size=40,
)
long_text = st.integers(min_value=1_000, max_value=30_000).map(lambda n: "\u202e" + "ب" * n)
body_text = st.one_of(clean_text, long_text, st.sampled_from(["", " ", "\n\n", "@room"]))
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | clean_text
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(clean_text, kids, max_size=3),
    max_leaves=8,
)
localpart = st.from_regex(r"[a-z0-9._=/-]{1,20}", fullmatch=True)
user_ids = st.one_of(
    st.sampled_from(["@alice:hs2.test", "@bob:hs3.test", BOT, "@sandbox_ghost_x:hs1.test"]),
    st.builds(lambda lp, hs: f"@{lp}:{hs}", localpart, st.sampled_from(["hs2.test", "hs3.test"])),
)
FORMATTED = [
    '<b>bold</b> <a href="https://matrix.to/#/@alice:hs2.test">Alice</a>',
    '<a href="https://matrix.to/#/%40carol%3Ahs3.test">pill</a>',
    "<mx-reply><blockquote>quoted</blockquote></mx-reply>answer",
    '<img src="x" onerror="alert(1)"><script>alert(1)</script>',
    '<a href="javascript:alert(1)">x</a><p style="color:red">y</p>',
    "<pre><code class=\"language-py\">x = '1; DROP TABLE outbox;--'</code></pre>",
]


@dataclass
class Generated:
    event: dict[str, Any]
    good: bool
    why: str  # what was done to it, for the failure message


def _base(event_type: str, content: dict[str, Any], sender: str, room: str) -> dict[str, Any]:
    n = next(_counter)
    return {
        "type": event_type,
        "event_id": f"$fuzz{n}-{id(content):x}",
        "room_id": room,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000 + n,
        "content": content,
        "unsigned": {"age": 5},
        MARK: n,
    }


@st.composite
def good_events(draw: st.DrawFn) -> Generated:
    sender = draw(user_ids)
    room = draw(st.sampled_from([PORTAL_ROOM, PORTAL_ROOM, OTHER_ROOM]))
    body = draw(body_text)
    kind = draw(
        st.sampled_from(
            [
                "text",
                "html",
                "emote",
                "media",
                "edit",
                "reply",
                "reaction",
                "redaction",
                "redaction_v11",
                "member",
                "visibility",
                "unknown",
                "unknown_state",
            ]
        )
    )
    event_type, content, state_key = "m.room.message", {}, None
    if kind in ("text", "emote"):
        content = {"msgtype": "m.text" if kind == "text" else "m.emote", "body": body}
    elif kind == "html":
        content = {
            "msgtype": draw(st.sampled_from(["m.text", "m.notice"])),
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": draw(st.sampled_from(FORMATTED)),
        }
    elif kind == "media":
        content = {
            "msgtype": draw(st.sampled_from(["m.image", "m.file", "m.video", "m.audio"])),
            "body": body or "file.bin",
            "url": "mxc://hs2.test/abc",
            "info": {"mimetype": "application/octet-stream", "size": draw(st.integers(0, 10**9))},
        }
    elif kind == "edit":
        content = {
            "msgtype": "m.text",
            "body": "* " + body,
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$fuzz-original"},
        }
    elif kind == "reply":
        content = {
            "msgtype": "m.text",
            "body": body,
            "m.relates_to": {"m.in_reply_to": {"event_id": "$fuzz-original"}},
        }
    elif kind == "reaction":
        event_type = "m.reaction"
        key = draw(st.sampled_from(["👍", "\U0001f3f3\ufe0f\u200d\U0001f308", "+1", ""]))
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": key}}
    elif kind == "redaction":
        event_type, content = "m.room.redaction", {}
    elif kind == "redaction_v11":
        event_type, content = "m.room.redaction", {"redacts": "$fuzz-original"}
    elif kind == "member":
        event_type = "m.room.member"
        membership = draw(st.sampled_from(["join", "leave", "invite", "ban", "knock", "x"]))
        content = {"membership": membership, "displayname": draw(st.none() | clean_text)}
        state_key = draw(st.sampled_from([sender, BOT, "@zed:hs3.test"]))
    elif kind == "visibility":
        event_type = "m.room.history_visibility"
        content = {"history_visibility": draw(st.sampled_from(["shared", "joined", "nope"]))}
        state_key = ""
    elif kind == "unknown":
        event_type = draw(st.sampled_from(["org.example.custom", "m.call.invite", "m.sticker"]))
        content = draw(st.dictionaries(clean_text, json_values, max_size=4))
    else:
        event_type = "org.example.state"
        content = draw(st.dictionaries(clean_text, json_values, max_size=4))
        state_key = draw(clean_text)
    event = _base(event_type, content, sender, room)
    if kind == "redaction":
        event["redacts"] = "$fuzz-original"
    if state_key is not None:
        event["state_key"] = state_key
    # Extra fields, top level and in content, never named like a field the bridge reads.
    for key, value in draw(
        st.dictionaries(
            st.from_regex(r"x\.extra\.[a-z]{1,5}", fullmatch=True), json_values, max_size=2
        )
    ).items():
        event[key] = value
        event["content"][key] = copy.deepcopy(value)
    return Generated(event, True, f"good {kind}")


WRONG_TYPES = st.sampled_from([None, 0, 1.5, True, [], ["x"], {}, {"a": 1}])
BAD_TEXT = ["\x00", "\ud800", "a\udfffb", "nul\x00in the middle"]


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def bad_events(draw: st.DrawFn) -> Generated:
    good = draw(good_events())
    event = good.event
    content = event["content"]
    choices = ["drop_envelope", "wrong_envelope", "bad_text", "too_deep", "long_id", "bad_ts"]
    if event["type"] in ("m.room.member", "m.room.history_visibility"):
        choices += ["no_state_key", "wrong_state_key"]
    if event["type"] == "m.room.message":
        choices += ["message_field", "message_field", "relates_to"]
    if event["type"] == "m.reaction":
        choices += ["relates_to"]
    if event["type"] == "m.room.redaction":
        choices += ["redacts"]
    if event["type"] == "m.room.member":
        choices += ["membership"]
    how = draw(st.sampled_from(choices))
    if how == "drop_envelope":
        del event[draw(st.sampled_from(["type", "event_id", "room_id", "sender", "content"]))]
    elif how == "wrong_envelope":
        key = draw(st.sampled_from(["type", "event_id", "room_id", "sender", "content"]))
        value = draw(WRONG_TYPES | st.sampled_from(["", "no-sigil"]))
        if key == "content" and isinstance(value, dict):
            value = "not an object"
        if key == "type" and value == "no-sigil":
            value = ""  # any other string is a well-formed (unknown) type
        event[key] = value
    elif how == "bad_text":
        where = draw(st.sampled_from(["body", "extra", "sender", "event_id", "key"]))
        bad = draw(st.sampled_from(BAD_TEXT))
        if where == "body":
            content["body"] = bad
            content.setdefault("msgtype", "m.text")
        elif where == "extra":
            content["x.extra.bad"] = {"nested": [bad]}
        elif where == "key":
            content[bad] = "bad key"
        else:
            event[where] = event[where] + bad
    elif how == "too_deep":
        content["x.extra.deep"] = _deep(draw(st.integers(40, 600)))
    elif how == "long_id":
        key = draw(st.sampled_from(["event_id", "room_id", "sender", "type"]))
        event[key] = event[key] + "x" * draw(st.integers(256, 2000))
    elif how == "bad_ts":
        ts = draw(st.sampled_from(["1700000000000", True, -1, 1.5, 2**64, None]))
        if ts is None:
            del event["origin_server_ts"]
        else:
            event["origin_server_ts"] = ts
    elif how == "no_state_key":
        del event["state_key"]
    elif how == "wrong_state_key":
        event["state_key"] = draw(WRONG_TYPES.filter(lambda v: v is not None))
    elif how == "message_field":
        key = draw(
            st.sampled_from(["msgtype", "body", "info", "url", "formatted_body", "m.new_content"])
        )
        if key == "info":
            content["info"] = draw(st.sampled_from([[], "big", 5, {"size": "1"}, {"mimetype": 7}]))
        elif key in ("msgtype", "body") and draw(st.booleans()):
            content.pop(key, None)
            content.setdefault("msgtype" if key == "body" else "body", "x")
        else:
            content[key] = draw(
                WRONG_TYPES.filter(lambda v: not isinstance(v, str) and v is not None)
            )
            if key == "m.new_content" and isinstance(content[key], dict):
                content[key] = {"body": 5}
            content.setdefault("msgtype", "m.text")
            content.setdefault("body", "x")
    elif how == "relates_to":
        content["m.relates_to"] = draw(
            st.sampled_from(
                [
                    "m.annotation",
                    [],
                    {"rel_type": 5},
                    {"event_id": ["$x"]},
                    {"m.in_reply_to": "$x"},
                    {"m.in_reply_to": {"event_id": 1}},
                ]
            )
        )
        if event["type"] == "m.room.message":
            content.setdefault("msgtype", "m.text")
            content.setdefault("body", "x")
    elif how == "redacts":
        event.pop("redacts", None)
        content["redacts"] = draw(WRONG_TYPES)
    elif how == "membership":
        content["membership"] = draw(WRONG_TYPES | st.sampled_from(["weird", "JOIN", ""]))
    return Generated(event, False, f"{good.why} + {how}")


def valid_event_id(value: object) -> bool:
    """An id a good event may carry (so a clone sharing it stays good)."""
    if not isinstance(value, str) or not value.startswith("$") or "\x00" in value:
        return False
    try:
        return len(value.encode("utf-8")) <= 255
    except UnicodeEncodeError:
        return False


JUNK_ENTRIES = st.sampled_from([None, 0, "event", ["list"], True, 1.5])


@st.composite
def transactions(draw: st.DrawFn, max_events: int = 8) -> list[Generated | Any]:
    """Good and bad events, junk entries, and events repeating an earlier event id."""
    entries: list[Generated | Any] = []
    for _ in range(draw(st.integers(0, max_events))):
        roll = draw(st.integers(0, 9))
        if roll < 4:
            entries.append(draw(good_events()))
        elif roll < 8:
            entries.append(draw(bad_events()))
        elif roll == 8:
            entries.append(draw(JUNK_ENTRIES))
        else:
            earlier = [e for e in entries if isinstance(e, Generated)]
            if earlier:
                twin = draw(st.sampled_from(earlier))
                clone = draw(st.one_of(good_events(), bad_events()))
                if valid_event_id(twin.event.get("event_id")):
                    clone.event["event_id"] = twin.event["event_id"]
                entries.append(clone)
    return entries
