"""Recognising the bridge's own posts on the realtime stream without the database."""

from __future__ import annotations

from typing import Any

from bridge.rctypes.models import RCMessage
from bridge.rocketchat.echoes import OwnEchoes


def _message(msg_id: str, **extra: Any) -> RCMessage:
    doc = {
        "_id": msg_id,
        "rid": "GENERAL",
        "msg": "hello",
        "ts": {"$date": 1_700_000_000_000},
        "_updatedAt": {"$date": 1_700_000_000_000},
        "u": {"_id": "shadow1", "username": "alice.hs2.example"},
        **extra,
    }
    return RCMessage.parse(doc)


def test_an_expected_plain_message_is_an_echo_once() -> None:
    echoes = OwnEchoes()
    echoes.expect("m1")
    assert echoes.is_plain_echo(_message("m1"))
    assert not echoes.is_plain_echo(_message("m1"))  # a second delivery is a change
    assert echoes.dropped == 1


def test_unknown_ids_and_changed_messages_are_not_echoes() -> None:
    echoes = OwnEchoes()
    assert not echoes.is_plain_echo(_message("never-posted"))
    for msg_id, extra in [
        ("reacted", {"reactions": {":tada:": {"usernames": ["bob"]}}}),
        ("edited", {"editedAt": {"$date": 1_700_000_001_000}, "editedBy": {"_id": "x"}}),
        ("thread-root", {"tcount": 2}),
        ("system", {"t": "uj"}),
    ]:
        echoes.expect(msg_id)
        assert not echoes.is_plain_echo(_message(msg_id, **extra)), msg_id
    assert echoes.dropped == 0


def test_only_the_latest_ids_are_remembered() -> None:
    echoes = OwnEchoes(remembered=2)
    for msg_id in ("a", "b", "c"):
        echoes.expect(msg_id)
    assert not echoes.is_plain_echo(_message("a"))
    assert echoes.is_plain_echo(_message("b")) and echoes.is_plain_echo(_message("c"))
